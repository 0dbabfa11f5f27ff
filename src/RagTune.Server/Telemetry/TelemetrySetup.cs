using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace RagTune.Server.Telemetry;

/// <summary>
/// Connects the OpenTelemetry SDK to <see cref="ServerTelemetry"/>'s source and meter as <see cref="ServerOptions.Telemetry"/>
/// says: <c>none</c> (nothing listens, so spans are never even created), <c>console</c> (spans and metric points
/// written through the server's logger, so <c>--log-format json</c> makes them structured) or <c>otlp</c> (the
/// OpenTelemetry Protocol exporter, gRPC or HTTP/protobuf, to a collector).
/// </summary>
internal static class TelemetrySetup
{
    /// <summary>The SDK providers for the options, or null for <c>none</c>; disposing them flushes what is pending.</summary>
    public static IDisposable? Start(ServerOptions options, ILoggerFactory loggers)
    {
        if (options.Telemetry == "none") return null;
        var version = typeof(TelemetrySetup).Assembly.GetName().Version?.ToString();
        var resource = ResourceBuilder.CreateDefault().AddService(options.TelemetryServiceName, serviceVersion: version);
        // Always on: ASP.NET Core starts an unrecorded activity per request when no HTTP instrumentation listens (none
        // is in the mirror), and the default parent-based sampler would let our spans inherit its "not sampled".
        var traces = Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).SetSampler(new AlwaysOnSampler()).AddSource(ServerTelemetry.Name);
        var metrics = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(ServerTelemetry.Name);
        int intervalMs = checked(options.TelemetryExportIntervalSeconds * 1000);
        if (options.Telemetry == "console")
        {
            var log = loggers.CreateLogger("RagTune.Telemetry");
            traces.AddProcessor(new SimpleActivityExportProcessor(new LogSpanExporter(log)));
            metrics.AddReader(new PeriodicExportingMetricReader(new LogMetricExporter(log), intervalMs));
        }
        else
        {
            traces.AddOtlpExporter(o => Otlp(o, options, "v1/traces"));
            metrics.AddOtlpExporter((o, reader) =>
            {
                Otlp(o, options, "v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = intervalMs;
            });
        }
        return new Providers(traces.Build(), metrics.Build());
    }

    private static void Otlp(OtlpExporterOptions o, ServerOptions options, string signalPath)
    {
        bool http = options.OtlpProtocol == "http/protobuf";
        o.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        if (options.OtlpEndpoint is not { Length: > 0 } endpoint) return; // the exporter's default, or OTEL_EXPORTER_OTLP_ENDPOINT
        // Over HTTP the exporter uses an endpoint given in code as the full URL, so the per-signal path is added here
        // (as the OTEL_EXPORTER_OTLP_ENDPOINT convention does); gRPC takes the collector's root.
        o.Endpoint = http ? new Uri(endpoint.TrimEnd('/') + "/" + signalPath) : new Uri(endpoint);
    }

    private sealed class Providers(TracerProvider traces, MeterProvider metrics) : IDisposable
    {
        public void Dispose()
        {
            traces.Dispose();
            metrics.Dispose();
        }
    }
}
