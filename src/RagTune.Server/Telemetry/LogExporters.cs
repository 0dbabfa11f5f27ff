using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace RagTune.Server.Telemetry;

/// <summary>
/// <c>--telemetry console</c> for spans: one log event per finished span (name, duration, ids, status, tags). The
/// mirror has no OpenTelemetry.Exporter.Console package, and logging keeps one output format for the whole server.
/// </summary>
internal sealed class LogSpanExporter(ILogger log) : BaseExporter<Activity>
{
    public override ExportResult Export(in Batch<Activity> batch)
    {
        foreach (var a in batch)
            log.LogInformation("span {SpanName} {DurationMs:F1} ms trace={TraceId} span={SpanId} parent={ParentSpanId} status={Status} {Tags}",
                a.DisplayName, a.Duration.TotalMilliseconds, a.TraceId.ToHexString(), a.SpanId.ToHexString(),
                a.ParentSpanId == default ? "" : a.ParentSpanId.ToHexString(), a.Status, Format(a.TagObjects));
        return ExportResult.Success;
    }

    internal static string Format(IEnumerable<KeyValuePair<string, object?>> tags)
    {
        var sb = new StringBuilder();
        foreach (var (key, value) in tags)
        {
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(key).Append('=').Append(value is Array array
                ? "[" + string.Join(",", array.Cast<object?>().Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))) + "]"
                : Convert.ToString(value, CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}

/// <summary><c>--telemetry console</c> for metrics: one log event per metric point at each export interval.</summary>
internal sealed class LogMetricExporter(ILogger log) : BaseExporter<Metric>
{
    public override ExportResult Export(in Batch<Metric> batch)
    {
        foreach (var metric in batch)
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var tags = new List<KeyValuePair<string, object?>>();
                foreach (var tag in point.Tags) tags.Add(tag);
                log.LogInformation("metric {MetricName} {Value} {Unit} {Tags}", metric.Name, Value(metric.MetricType, point), metric.Unit, LogSpanExporter.Format(tags));
            }
        }
        return ExportResult.Success;
    }

    private static string Value(MetricType type, in MetricPoint p) => type switch
    {
        MetricType.LongSum or MetricType.LongSumNonMonotonic => p.GetSumLong().ToString(CultureInfo.InvariantCulture),
        MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic => p.GetSumDouble().ToString(CultureInfo.InvariantCulture),
        MetricType.LongGauge => p.GetGaugeLastValueLong().ToString(CultureInfo.InvariantCulture),
        MetricType.DoubleGauge => p.GetGaugeLastValueDouble().ToString(CultureInfo.InvariantCulture),
        MetricType.Histogram => string.Create(CultureInfo.InvariantCulture, $"count={p.GetHistogramCount()} sum={p.GetHistogramSum():G6}"),
        _ => type.ToString(),
    };
}
