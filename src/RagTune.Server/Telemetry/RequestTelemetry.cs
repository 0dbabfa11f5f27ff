using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace RagTune.Server.Telemetry;

/// <summary>
/// What the endpoints learn about a request that its span and metrics need (the model, tokens, the error), kept
/// on the request as a feature so the middleware that owns the span can tag it when the request ends.
/// </summary>
internal sealed class RequestTelemetry
{
    public string? Model { get; set; }

    public int? InputTokens { get; set; }

    public int? OutputTokens { get; set; }

    /// <summary>The OpenAI error code or type the request failed with (also set for an error sent inside a stream).</summary>
    public string? ErrorType { get; set; }

    public long StartedAt { get; } = Stopwatch.GetTimestamp();

    /// <summary>The request's telemetry; a fresh, unrecorded one for requests outside <c>/v1</c>.</summary>
    public static RequestTelemetry Of(HttpContext context) => context.Features.Get<RequestTelemetry>() ?? new RequestTelemetry();
}

/// <summary>
/// The span per <c>/v1</c> request (kind Server, named <c>{method} {route}</c>) and the request metrics. Runs
/// outermost, so it sees the status code of every answer: 401, 413 and 429 included.
/// </summary>
internal sealed class RequestTelemetryMiddleware(RequestDelegate next, ServerTelemetry telemetry)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1"))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        var request = new RequestTelemetry();
        context.Features.Set(request);
        // The route template, not the path: metric and span names must not grow with every distinct URL (/v1/models/{id}).
        string route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "/v1 (unmatched)";
        using var activity = telemetry.Source.StartActivity($"{context.Request.Method} {route}", ActivityKind.Server);
        activity?.SetTag("http.request.method", context.Request.Method);
        activity?.SetTag("url.path", context.Request.Path.Value);
        activity?.SetTag("http.route", route);
        // Queued until the rate limiter lets the request through (QueueEnteredMiddleware runs after it).
        telemetry.EnterQueue();
        context.Items[QueueKey] = telemetry;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            request.ErrorType ??= e.GetType().Name;
            throw;
        }
        finally
        {
            if (context.Items.Remove(QueueKey)) telemetry.LeaveQueue();
            int status = context.Response.StatusCode;
            if (status >= 400) request.ErrorType ??= status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            telemetry.Finished(route, status, request, Stopwatch.GetElapsedTime(request.StartedAt));
            if (activity is not null) Tag(activity, request, status);
        }
    }

    internal static readonly object QueueKey = new();

    private static void Tag(Activity activity, RequestTelemetry request, int status)
    {
        activity.SetTag("http.response.status_code", status);
        if (request.Model is { } model) activity.SetTag("gen_ai.request.model", model);
        if (request.InputTokens is { } input) activity.SetTag("gen_ai.usage.input_tokens", input);
        if (request.OutputTokens is { } output) activity.SetTag("gen_ai.usage.output_tokens", output);
        if (request.ErrorType is { } error)
        {
            activity.SetTag("error.type", error);
            activity.SetStatus(ActivityStatusCode.Error);
        }
    }
}

/// <summary>Runs just after the rate limiter: the request has left the queue and holds a slot until it ends.</summary>
internal sealed class SlotTelemetryMiddleware(RequestDelegate next, ServerTelemetry telemetry)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Items.Remove(RequestTelemetryMiddleware.QueueKey))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        telemetry.LeaveQueue();
        telemetry.EnterActive();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            telemetry.LeaveActive();
        }
    }
}
