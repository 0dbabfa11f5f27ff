using System.Globalization;
using System.Text;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// A hand-written SVG chart frame: a fixed-size canvas with a plot area, linear or log axes, and the few marks the
/// report draws (rectangles, lines, polylines, text, a legend). Accessible by construction: every chart carries a
/// &lt;title&gt; and &lt;desc&gt; referenced by aria-labelledby. Coordinates are printed in the invariant culture so
/// the same data gives the same bytes.
/// </summary>
internal sealed class SvgCanvas
{
    public const int Width = 680, Height = 320;
    private const double Left = 64, Right = 170, Top = 24, Bottom = 56;
    public static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"];

    private readonly StringBuilder _sb = new();
    private readonly List<(string Label, string Color, bool Dashed)> _legend = [];
    private double _x0, _x1 = 1, _y0, _y1 = 1;
    private bool _logX;

    public SvgCanvas(string id, string title, string description)
    {
        _sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"system-ui, sans-serif\">\n");
        _sb.Append($"<title id=\"{id}-title\">{HtmlText.Escape(title)}</title>\n<desc id=\"{id}-desc\">{HtmlText.Escape(description)}</desc>\n");
        _sb.Append($"<rect x=\"0\" y=\"0\" width=\"{Width}\" height=\"{Height}\" fill=\"#ffffff\"/>\n");
    }

    public double PlotLeft => Left;
    public double PlotRight => Width - Right;
    public double PlotTop => Top;
    public double PlotBottom => Height - Bottom;

    /// <summary>Sets the data ranges; a log x axis takes positive values only.</summary>
    public void Scale(double x0, double x1, double y0, double y1, bool logX = false)
    {
        _logX = logX;
        (_x0, _x1) = logX ? (Math.Log10(x0), Math.Log10(x1)) : (x0, x1);
        if (_x1 <= _x0) _x1 = _x0 + 1;
        (_y0, _y1) = (y0, y1 > y0 ? y1 : y0 + 1);
    }

    public double X(double v) => PlotLeft + ((_logX ? Math.Log10(v) : v) - _x0) / (_x1 - _x0) * (PlotRight - PlotLeft);
    public double Y(double v) => PlotBottom - (v - _y0) / (_y1 - _y0) * (PlotBottom - PlotTop);

    /// <summary>Axes with gridlines at <paramref name="yTicks"/> and labels.</summary>
    public void Axes(string xLabel, string yLabel, IEnumerable<double> yTicks, Func<double, string> yFormat)
    {
        foreach (var t in yTicks)
        {
            Line(PlotLeft, Y(t), PlotRight, Y(t), "#e0e0e0");
            Text(PlotLeft - 6, Y(t) + 4, yFormat(t), "end");
        }
        Line(PlotLeft, PlotBottom, PlotRight, PlotBottom, "#333333");
        Line(PlotLeft, PlotTop, PlotLeft, PlotBottom, "#333333");
        Text((PlotLeft + PlotRight) / 2, Height - 10, xLabel, "middle");
        _sb.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{F((PlotTop + PlotBottom) / 2)}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {F((PlotTop + PlotBottom) / 2)})\">{HtmlText.Escape(yLabel)}</text>\n");
    }

    /// <summary>A label under the x axis at data position <paramref name="x"/> (already in pixels when <paramref name="pixels"/>).</summary>
    public void XTick(double x, string label, bool pixels = false)
    {
        double px = pixels ? x : X(x);
        Line(px, PlotBottom, px, PlotBottom + 4, "#333333");
        Text(px, PlotBottom + 18, label, "middle");
    }

    public void Rect(double x, double y, double w, double h, string fill, string? tooltip = null)
    {
        _sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(x)}\" y=\"{F(y)}\" width=\"{F(Math.Max(0, w))}\" height=\"{F(Math.Max(0, h))}\" fill=\"{fill}\"");
        if (tooltip is null) _sb.Append("/>\n");
        else _sb.Append("><title>").Append(HtmlText.Escape(tooltip)).Append("</title></rect>\n");
    }

    public void Line(double x1, double y1, double x2, double y2, string stroke, bool dashed = false, double width = 1)
    {
        _sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(x1)}\" y1=\"{F(y1)}\" x2=\"{F(x2)}\" y2=\"{F(y2)}\" stroke=\"{stroke}\" stroke-width=\"{F(width)}\"");
        _sb.Append(dashed ? " stroke-dasharray=\"6 4\"/>\n" : "/>\n");
    }

    /// <summary>A polyline through data points, with a dot at each.</summary>
    public void Series(IReadOnlyList<(double X, double Y)> points, string color, bool dashed = false, bool dots = true)
    {
        if (points.Count == 0) return;
        _sb.Append("<polyline fill=\"none\" stroke=\"").Append(color).Append("\" stroke-width=\"2\"").Append(dashed ? " stroke-dasharray=\"6 4\"" : "").Append(" points=\"");
        _sb.AppendJoin(' ', points.Select(p => F(X(p.X)) + "," + F(Y(p.Y)))).Append("\"/>\n");
        if (!dots) return;
        foreach (var p in points)
            _sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(X(p.X))}\" cy=\"{F(Y(p.Y))}\" r=\"3\" fill=\"{color}\"/>\n");
    }

    public void Text(double x, double y, string text, string anchor = "start", int size = 12)
    {
        _sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(x)}\" y=\"{F(y)}\" font-size=\"{size}\" text-anchor=\"{anchor}\">{HtmlText.Escape(text)}</text>\n");
    }

    public void Legend(string label, string color, bool dashed = false) => _legend.Add((label, color, dashed));

    public string Finish()
    {
        double y = PlotTop + 6;
        foreach (var (label, color, dashed) in _legend)
        {
            Line(PlotRight + 12, y, PlotRight + 32, y, color, dashed, 3);
            Text(PlotRight + 38, y + 4, label, size: 11);
            y += 18;
        }
        return _sb.Append("</svg>\n").ToString();
    }

    /// <summary>A pixel coordinate, two decimals at most.</summary>
    public static string F(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>About <paramref name="count"/> round tick values covering [0, max].</summary>
    public static List<double> Ticks(double max, int count = 5)
    {
        if (!(max > 0) || !double.IsFinite(max)) return [0, 1];
        double raw = max / count, mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1.0, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        var ticks = new List<double>();
        for (int i = 0; ticks.Count == 0 || ticks[^1] < max; i++) ticks.Add(Math.Round(i * step, 10));
        return ticks;
    }
}

/// <summary>Escaping for text and attribute values in HTML and SVG (XML-safe: only the five predefined entities).</summary>
internal static class HtmlText
{
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var sb = new StringBuilder(text.Length + 16);
        foreach (var ch in text)
        {
            switch (ch)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                // Control characters other than tab and newlines are not allowed in XML, so they cannot reach a parser.
                case < ' ' when ch is not ('\t' or '\n' or '\r'): sb.Append('\uFFFD'); break;
                default: sb.Append(ch); break;
            }
        }
        return sb.ToString();
    }
}
