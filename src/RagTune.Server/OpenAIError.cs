using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace RagTune.Server;

/// <summary>
/// A request failure in OpenAI's error shape, <c>{"error": {"message", "type", "param", "code"}}</c>, with its
/// HTTP status. Thrown by request handlers and written by <see cref="OpenAIErrorMiddleware"/>.
/// </summary>
internal sealed class OpenAIErrorException(int status, string message, string type, string? param = null, string? code = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    public static OpenAIErrorException BadRequest(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    public static OpenAIErrorException NotFound(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status404NotFound, message, "invalid_request_error", param, code);

    /// <summary>The HTTP answer to a request the composed services refused.</summary>
    public static OpenAIErrorException From(RagTune.Hosting.HostingException e) => e.Failure switch
    {
        RagTune.Hosting.HostingFailure.NotFound => new(StatusCodes.Status404NotFound, e.Message, "invalid_request_error", e.Field, "not_found"),
        RagTune.Hosting.HostingFailure.Conflict => new(StatusCodes.Status409Conflict, e.Message, "invalid_request_error", e.Field, "conflict"),
        RagTune.Hosting.HostingFailure.TooLarge => new(StatusCodes.Status413PayloadTooLarge, e.Message, "invalid_request_error", e.Field, "request_too_large"),
        RagTune.Hosting.HostingFailure.Busy => new(StatusCodes.Status429TooManyRequests, e.Message, "rate_limit_exceeded", e.Field, "job_queue_full"),
        _ => new(StatusCodes.Status400BadRequest, e.Message, "invalid_request_error", e.Field),
    };

    public ErrorBody ToBody() => new(new ErrorDetail(Message, Type, Param, Code));

    public static Task WriteAsync(HttpContext context, int status, string message, string type, string? param = null, string? code = null) =>
        new OpenAIErrorException(status, message, type, param, code).WriteAsync(context);

    public async Task WriteAsync(HttpContext context)
    {
        Telemetry.RequestTelemetry.Of(context).ErrorType ??= Code ?? Type;
        context.Response.StatusCode = Status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(ToBody(), OpenAIWire.Json), context.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>Turns <see cref="OpenAIErrorException"/> and unexpected failures into OpenAI-shaped responses.</summary>
internal sealed class OpenAIErrorMiddleware(RequestDelegate next, Microsoft.Extensions.Logging.ILogger<OpenAIErrorMiddleware> log)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OpenAIErrorException e) when (!context.Response.HasStarted)
        {
            await e.WriteAsync(context).ConfigureAwait(false);
        }
        catch (RagTune.Hosting.HostingException e) when (!context.Response.HasStarted)
        {
            await OpenAIErrorException.From(e).WriteAsync(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogError(log, e, "Request {Method} {Path} failed", context.Request.Method, context.Request.Path.Value);
            await OpenAIErrorException.WriteAsync(context, StatusCodes.Status500InternalServerError,
                "The server had an error while processing your request.", "server_error").ConfigureAwait(false);
        }
    }
}
