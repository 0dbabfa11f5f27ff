using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using RagTune.Hosting;

namespace RagTune.Server.Api;

/// <summary>
/// Streams the file parts of a <c>multipart/form-data</c> request to a sink, one at a time, never buffering a
/// whole file. The request as a whole may be at most the upload limit plus room for the part headers.
/// </summary>
internal static class MultipartUpload
{
    private const int MaxFiles = 64;
    private const long HeaderAllowance = 64 * 1024;

    public static async Task<List<T>> ReadFilesAsync<T>(HttpContext context, long maxUploadBytes, Func<string?, Stream, CancellationToken, Task<T>> save)
    {
        var request = context.Request;
        var ct = context.RequestAborted;
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) || !type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(type.Boundary).Value is not { Length: > 0 } boundary)
            throw OpenAIErrorException.BadRequest("Send the files as multipart/form-data (a form with <input type=file name=file>).", "file");

        long limit = maxUploadBytes + HeaderAllowance;
        // Our own count replaces Kestrel's request limit (sized for JSON) on this route.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature) feature.MaxRequestBodySize = null;
        if (request.ContentLength is { } length && length > limit)
        {
            if (length <= RequestBody.DrainCap(limit)) await RequestBody.DrainAsync(request.Body, RequestBody.DrainCap(limit), ct).ConfigureAwait(false);
            throw TooLarge(maxUploadBytes);
        }

        var saved = new List<T>();
        var reader = new MultipartReader(boundary, request.Body) { BodyLengthLimit = null };
        try
        {
            for (var section = await reader.ReadNextSectionAsync(ct).ConfigureAwait(false); section != null;
                 section = await reader.ReadNextSectionAsync(ct).ConfigureAwait(false))
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.IsFileDisposition())
                    continue;
                if (saved.Count == MaxFiles) throw OpenAIErrorException.BadRequest($"At most {MaxFiles} files can be uploaded in one request.", "file");
                var name = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                saved.Add(await save(name, section.Body, ct).ConfigureAwait(false));
            }
        }
        catch (HostingException e) when (e.Failure == HostingFailure.TooLarge)
        {
            // Read the rest (up to a cap) so the client gets the 413 instead of a reset connection.
            await RequestBody.DrainAsync(request.Body, RequestBody.DrainCap(limit), ct).ConfigureAwait(false);
            throw;
        }
        catch (InvalidDataException e)
        {
            throw OpenAIErrorException.BadRequest("The multipart body is malformed: " + e.Message, "file");
        }
        if (saved.Count == 0) throw OpenAIErrorException.BadRequest("The request has no file part; add one named e.g. 'file'.", "file");
        return saved;
    }

    private static OpenAIErrorException TooLarge(long maxUploadBytes) =>
        new(StatusCodes.Status413PayloadTooLarge,
            $"The upload is larger than the server's limit of {maxUploadBytes} bytes (RagTune:MaxUploadBytes).",
            "invalid_request_error", "file", "request_too_large");
}
