using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RagTune.Server.Telemetry;

namespace RagTune.Server.Tests.Telemetry;

/// <summary><c>--telemetry console</c>: spans and metric points come out as log events carrying their names, tags and values.</summary>
public sealed class LogExporterTests
{
    private sealed class CollectingLogger : ILogger
    {
        public List<(string Message, IReadOnlyList<KeyValuePair<string, object?>> State)> Events { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Events) Events.Add((formatter(state, exception), state as IReadOnlyList<KeyValuePair<string, object?>> ?? []));
        }
    }

    [Fact]
    public void A_span_and_the_metric_points_are_logged_with_their_tags()
    {
        var log = new CollectingLogger();
        var name = "RagTune.Test." + Guid.NewGuid().ToString("N");
        using var source = new ActivitySource(name);
        using var meter = new Meter(name);
        var counter = meter.CreateCounter<long>("ragtune.server.tokens");
        var histogram = meter.CreateHistogram<double>("ragtune.server.time_to_first_token", "s");
        using (var traces = Sdk.CreateTracerProviderBuilder().AddSource(name).AddProcessor(new SimpleActivityExportProcessor(new LogSpanExporter(log))).Build())
        using (var metrics = Sdk.CreateMeterProviderBuilder().AddMeter(name).AddReader(new PeriodicExportingMetricReader(new LogMetricExporter(log), 60_000)).Build())
        {
            using (var span = source.StartActivity("chat tiny"))
            {
                span!.SetTag("gen_ai.request.model", "tiny");
                span.SetTag("gen_ai.response.finish_reasons", new[] { "length" });
            }
            counter.Add(7, new KeyValuePair<string, object?>("gen_ai.token.type", "output"));
            histogram.Record(0.25);
            histogram.Record(0.75);
            metrics.ForceFlush();
        }

        var span0 = Assert.Single(log.Events, e => e.Message.StartsWith("span ", StringComparison.Ordinal));
        Assert.Contains("chat tiny", span0.Message);
        Assert.Contains("gen_ai.request.model=tiny", span0.Message);
        Assert.Contains("gen_ai.response.finish_reasons=[length]", span0.Message);
        Assert.Contains(span0.State, kv => kv.Key == "SpanName" && Equals(kv.Value, "chat tiny"));   // structured for --log-format json
        Assert.Contains(log.Events, e => e.Message.StartsWith("metric ragtune.server.tokens 7 ", StringComparison.Ordinal) && e.Message.Contains("gen_ai.token.type=output"));
        Assert.Contains(log.Events, e => e.Message.StartsWith("metric ragtune.server.time_to_first_token count=2 sum=1 s", StringComparison.Ordinal));
    }
}
