using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace RagTune.TestKit;

/// <summary>
/// Makes PDFs for tests with a real tool: Ghostscript's <c>ps2pdf</c> renders PostScript pages written here
/// (Helvetica text at given positions, or an image with no text). CI installs ghostscript (<c>.ci/run</c>).
/// </summary>
public static class GhostscriptPdf
{
    /// <summary>A line of text at (x, y) points from the bottom-left of a US Letter page (612 × 792).</summary>
    public sealed record TextLine(double X, double Y, string Text);

    /// <summary>True when ps2pdf is on PATH.</summary>
    public static bool Available =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "ps2pdf")));

    /// <summary>Why a PDF test cannot run here (for a fact's <c>Skip</c>), or null when ps2pdf is installed.</summary>
    public static string? SkipReason =>
        Available ? null : "ps2pdf (ghostscript) is not installed: apt-get install ghostscript to run the PDF tests (.ci/run installs it).";

    /// <summary>PostScript for pages of text lines, 11 pt Helvetica.</summary>
    public static string TextPages(params IReadOnlyList<TextLine>[] pages)
    {
        var sb = new StringBuilder("%!PS\n");
        foreach (var page in pages)
        {
            sb.Append("/Helvetica findfont 11 scalefont setfont\n");
            foreach (var l in page)
                sb.Append(CultureInfo.InvariantCulture, $"{l.X:0.##} {l.Y:0.##} moveto ({Escape(l.Text)}) show\n");
            sb.Append("showpage\n");
        }
        return sb.ToString();
    }

    /// <summary>PostScript for one page holding only a grey-scale image (a scan without a text layer).</summary>
    public static string ImageOnlyPage()
    {
        var hex = new StringBuilder();
        for (var i = 0; i < 64; i++) hex.Append(((i * 37) % 256).ToString("x2", CultureInfo.InvariantCulture));
        return $"%!PS\n72 400 translate 300 300 scale\n8 8 8 [8 0 0 8 0 0] {{<{hex}>}} image\nshowpage\n";
    }

    /// <summary>Renders <paramref name="postScript"/> to <paramref name="pdfPath"/>; <paramref name="options"/> go to ps2pdf (e.g. <c>-sUserPassword=x</c>).</summary>
    public static void Write(string postScript, string pdfPath, params string[] options)
    {
        var ps = Path.ChangeExtension(pdfPath, ".ps");
        File.WriteAllText(ps, postScript);
        var psi = new ProcessStartInfo("ps2pdf") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var o in options) psi.ArgumentList.Add(o);
        psi.ArgumentList.Add(ps);
        psi.ArgumentList.Add(pdfPath);
        using var gs = Process.Start(psi) ?? throw new InvalidOperationException("could not start ps2pdf");
        var err = gs.StandardError.ReadToEndAsync();
        gs.StandardOutput.ReadToEnd();
        if (!gs.WaitForExit(60_000)) throw new TimeoutException("ps2pdf did not finish within 60 s");
        if (gs.ExitCode != 0) throw new InvalidOperationException($"ps2pdf failed (exit {gs.ExitCode}): {err.Result}");
        File.Delete(ps);
    }

    private static string Escape(string text) => text.Replace("\\", "\\\\").Replace("(", "\\(").Replace(")", "\\)");
}
