using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace RagTune.Server;

/// <summary>Reads a JSON request body within the configured size limit, failing in OpenAI's error shape.</summary>
internal static class RequestBody
{
    public static Task<T> ReadAsync<T>(HttpContext context, ServerOptions options) where T : class =>
        ReadAsync<T>(context, options, OpenAIWire.Json);

    /// <summary>Reads the body as <typeparamref name="T"/> with the given JSON naming (camelCase for <c>/api</c>).</summary>
    public static async Task<T> ReadAsync<T>(HttpContext context, ServerOptions options, JsonSerializerOptions json) where T : class
    {
        // We count the bytes ourselves instead of letting Kestrel throw mid-body: an oversized body is then read
        // to its end (up to a cap) before the 413 is sent, so the client sees the answer instead of a reset
        // connection. Kestrel's own limit (the same size) still guards every other route.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature) feature.MaxRequestBodySize = null;
        long limit = options.MaxRequestBodyBytes;
        var ct = context.RequestAborted;
        if (context.Request.ContentLength is { } length && length > limit)
        {
            if (length <= DrainCap(limit)) await DrainAsync(context.Request.Body, DrainCap(limit), ct).ConfigureAwait(false);
            throw TooLarge(options);
        }

        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int n;
            while ((n = await context.Request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > limit)
                {
                    await DrainAsync(context.Request.Body, DrainCap(limit) - buffer.Length - n, ct).ConfigureAwait(false);
                    throw TooLarge(options);
                }
                buffer.Write(chunk, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        if (buffer.Length == 0) throw OpenAIErrorException.BadRequest("The request body is empty; send a JSON object.");
        buffer.Position = 0;
        try
        {
            return JsonSerializer.Deserialize<T>(buffer, json)
                ?? throw OpenAIErrorException.BadRequest("The request body is null; send a JSON object.");
        }
        catch (JsonException e)
        {
            throw OpenAIErrorException.BadRequest($"We could not parse the JSON body of your request: {e.Message}", e.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : null);
        }
    }

    // Read at most this much of an oversized body before answering; beyond it the connection is simply closed.
    internal static long DrainCap(long limit) => Math.Max(4 * limit, 4 << 20);

    /// <summary>Reads and drops up to <paramref name="budget"/> bytes, so a refused client still reads the answer.</summary>
    internal static async Task DrainAsync(Stream body, long budget, CancellationToken ct)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int n;
            while (budget > 0 && (n = await body.ReadAsync(scratch, ct).ConfigureAwait(false)) > 0) budget -= n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static OpenAIErrorException TooLarge(ServerOptions options) =>
        new(StatusCodes.Status413PayloadTooLarge,
            $"The request body is larger than the server's limit of {options.MaxRequestBodyBytes} bytes (Server:MaxRequestBodyBytes).",
            "invalid_request_error", null, "request_too_large");
}
