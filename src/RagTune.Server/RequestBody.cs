using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace RagTune.Server;

/// <summary>Reads a JSON request body within the configured size limit, failing in OpenAI's error shape.</summary>
internal static class RequestBody
{
    public static async Task<T> ReadAsync<T>(HttpContext context, ServerOptions options) where T : class
    {
        if (context.Request.ContentLength is { } length && length > options.MaxRequestBodyBytes)
            throw TooLarge(options);
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(context.Request.Body, OpenAIWire.Json, context.RequestAborted).ConfigureAwait(false)
                ?? throw OpenAIErrorException.BadRequest("The request body is empty; send a JSON object.");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(options);
        }
        catch (JsonException e)
        {
            throw OpenAIErrorException.BadRequest($"We could not parse the JSON body of your request: {e.Message}", e.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : null);
        }
    }

    private static OpenAIErrorException TooLarge(ServerOptions options) =>
        new(StatusCodes.Status413PayloadTooLarge,
            $"The request body is larger than the server's limit of {options.MaxRequestBodyBytes} bytes (Server:MaxRequestBodyBytes).",
            "invalid_request_error", null, "request_too_large");
}
