using System.Globalization;
using RagTune.Evaluation.Statistics;

namespace RagTune.Evaluation.Experiments;

/// <summary>How figures are printed in reasons and reports: invariant culture, fixed precision, so output is deterministic.</summary>
internal static class ReportFormat
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>"0.81 [0.74, 0.87]", or "n/a".</summary>
    public static string Est(Estimate? e) => e is null ? "n/a" : $"{Num(e.Mean)} [{Num(e.Low)}, {Num(e.High)}]";

    /// <summary>A metric value to two decimals, or "n/a".</summary>
    public static string Num(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("0.00", Inv) : "n/a";

    /// <summary>A share as a whole percentage.</summary>
    public static string Pct(double? v) => v is { } x && double.IsFinite(x) ? (x * 100).ToString("0", Inv) + "%" : "n/a";

    /// <summary>"p = 0.034", "p &lt; 0.001".</summary>
    public static string P(double p) => !double.IsFinite(p) ? "p n/a" : p < 0.001 ? "p < 0.001" : "p = " + p.ToString("0.000", Inv);

    /// <summary>Milliseconds, whole.</summary>
    public static string Ms(double? ms) => ms is { } x && double.IsFinite(x) ? x.ToString("0", Inv) + " ms" : "n/a";

    /// <summary>A money amount in the compute price's unit, four significant decimals for small sums.</summary>
    public static string Money(double v) => Math.Abs(v) >= 100 ? v.ToString("0", Inv) : Math.Abs(v) >= 1 ? v.ToString("0.00", Inv) : v.ToString("0.00##", Inv);

    /// <summary>A count or a plain number with grouping ("12,500").</summary>
    public static string Count(double v) => v.ToString("#,0", Inv);

    /// <summary>A plain number to at most two decimals ("4", "0.5").</summary>
    public static string Plain(double v) => v.ToString("0.##", Inv);

    /// <summary>A duration: "850 ms", "3.2 s", "40 min", "2.5 h".</summary>
    public static string Duration(double seconds) => seconds switch
    {
        < 1 => (seconds * 1000).ToString("0", Inv) + " ms",
        < 60 => seconds.ToString("0.0", Inv) + " s",
        < 3600 => (seconds / 60).ToString("0.#", Inv) + " min",
        _ => (seconds / 3600).ToString("0.#", Inv) + " h",
    };

    /// <summary>Bytes as MiB.</summary>
    public static string MiB(long bytes) => (bytes / 1048576.0).ToString("0.0", Inv) + " MiB";
}
