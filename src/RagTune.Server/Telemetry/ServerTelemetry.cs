using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.AI;

namespace RagTune.Server.Telemetry;

/// <summary>
/// The server's traces and metrics, through <see cref="ActivitySource"/> and <see cref="Meter"/> only (the
/// OpenTelemetry SDK, when configured, listens to them by name; see <see cref="TelemetrySetup"/>). Tag names follow the
/// OpenTelemetry semantic conventions for HTTP and generative AI (<c>gen_ai.*</c>) where one exists. One instance per
/// application, so two servers in one process keep their measurements apart.
/// </summary>
internal sealed class ServerTelemetry : IDisposable
{
    /// <summary>The name of the activity source and the meter.</summary>
    public const string Name = "RagTune.Server";

    public const string RequestsMetric = "ragtune.server.requests";
    public const string ErrorsMetric = "ragtune.server.errors";
    public const string TokensMetric = "ragtune.server.tokens";
    public const string TimeToFirstTokenMetric = "ragtune.server.time_to_first_token";
    public const string DurationMetric = "ragtune.server.request.duration";
    public const string QueueLengthMetric = "ragtune.server.queue.length";
    public const string ActiveRequestsMetric = "ragtune.server.active_requests";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _tokens;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _duration;
    private int _queued;
    private int _active;

    public ServerTelemetry()
    {
        var version = typeof(ServerTelemetry).Assembly.GetName().Version?.ToString();
        Source = new ActivitySource(Name, version);
        Meter = new Meter(Name, version);
        _requests = Meter.CreateCounter<long>(RequestsMetric, "{request}", "Requests answered on /v1, by route, model and status code");
        _errors = Meter.CreateCounter<long>(ErrorsMetric, "{error}", "Requests that failed (status 4xx/5xx, or an error inside a stream), by error type");
        _tokens = Meter.CreateCounter<long>(TokensMetric, "{token}", "Prompt (input) and completion (output) tokens, by model");
        _timeToFirstToken = Meter.CreateHistogram<double>(TimeToFirstTokenMetric, "s", "Time from the request's arrival to the first streamed token");
        _duration = Meter.CreateHistogram<double>(DurationMetric, "s", "Time from the request's arrival to its last byte");
        Meter.CreateObservableGauge(QueueLengthMetric, () => Volatile.Read(ref _queued), "{request}", "Requests waiting for a concurrency slot");
        Meter.CreateObservableGauge(ActiveRequestsMetric, () => Volatile.Read(ref _active), "{request}", "Requests holding a concurrency slot");
    }

    public ActivitySource Source { get; }

    public Meter Meter { get; }

    /// <summary>Requests waiting for a concurrency slot now.</summary>
    public int Queued => Volatile.Read(ref _queued);

    internal void EnterQueue() => Interlocked.Increment(ref _queued);

    internal void LeaveQueue() => Interlocked.Decrement(ref _queued);

    internal void EnterActive() => Interlocked.Increment(ref _active);

    internal void LeaveActive() => Interlocked.Decrement(ref _active);

    // The model call's own span (chat {model} / embeddings {model}, gen_ai.* tags, gen_ai.response.time_to_first_chunk)
    // and the gen_ai.client.* metrics come from Microsoft.Extensions.AI's OpenTelemetry middleware on this same source
    // and meter (ModelRegistry.UseMiddleware). What it cannot see is the request around the call: the queue wait and
    // retrieval before the model starts, so time to first token is measured here from the request's arrival.

    /// <summary>Records the time from the request's arrival (queue wait and retrieval included) to its first streamed token.</summary>
    public void FirstToken(RequestTelemetry request, TimeSpan elapsed)
    {
        _timeToFirstToken.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("gen_ai.request.model", request.Model));
        Activity.Current?.AddEvent(new ActivityEvent("gen_ai.first_token"));
    }

    /// <summary>Records a finished generation's token counts on the request's span and the token counter.</summary>
    public void Usage(RequestTelemetry request, int inputTokens, int outputTokens)
    {
        request.InputTokens = inputTokens;
        request.OutputTokens = outputTokens;
        var model = new KeyValuePair<string, object?>("gen_ai.request.model", request.Model);
        _tokens.Add(inputTokens, model, new("gen_ai.token.type", "input"));
        _tokens.Add(outputTokens, model, new("gen_ai.token.type", "output"));
    }

    /// <summary>Counts a finished request (and its error, if any) and its duration.</summary>
    internal void Finished(string route, int status, RequestTelemetry request, TimeSpan elapsed)
    {
        var tags = new TagList { { "http.route", route }, { "http.response.status_code", status } };
        if (request.Model is { } model) tags.Add("gen_ai.request.model", model);
        _requests.Add(1, tags);
        _duration.Record(elapsed.TotalSeconds, tags);
        if (request.ErrorType is { } error)
        {
            tags.Add("error.type", error);
            _errors.Add(1, tags);
        }
    }

    public void Dispose()
    {
        Source.Dispose();
        Meter.Dispose();
    }
}
