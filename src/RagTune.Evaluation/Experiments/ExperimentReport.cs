using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// Writes an analysed experiment as <c>results.json</c> (format name + version, the raw run and every computed
/// figure), <c>report.md</c> and a self-contained <c>report.html</c>, and reads results.json back.
/// </summary>
public static class ExperimentReport
{
    /// <summary>The format name results.json carries (checked when it is read back).</summary>
    public const string ResultsFormatName = "ragtune-experiment-results";

    /// <summary>The results.json format version; a newer one is refused when read back.</summary>
    public const int ResultsFormatVersion = 1;

    /// <summary>The results file's name in a run's output folder.</summary>
    public const string ResultsFileName = "results.json";

    /// <summary>The Markdown report's name in a run's output folder.</summary>
    public const string MarkdownFileName = "report.md";

    /// <summary>The HTML report's name in a run's output folder.</summary>
    public const string HtmlFileName = "report.html";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Keep text (questions, answers, "→" in reasons, arm names such as "ft+rag") readable for auditing: the file is
        // never embedded in HTML (report.html escapes its own text), so HTML-sensitive characters need no escapes.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The file: format and version first, so a reader can refuse a foreign or newer file before reading the rest.</summary>
    private sealed record ResultsFile(string Format, int Version, ExperimentResults Results);

    /// <summary>Writes the three files into <paramref name="outDir"/> (created if missing) and returns their paths.</summary>
    public static IReadOnlyList<string> WriteAll(ExperimentResults results, string outDir)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);
        Directory.CreateDirectory(outDir);
        var json = Path.Combine(outDir, ResultsFileName);
        var md = Path.Combine(outDir, MarkdownFileName);
        var html = Path.Combine(outDir, HtmlFileName);
        var utf8 = new UTF8Encoding(false);
        File.WriteAllText(json, ToJson(results), utf8);
        File.WriteAllText(md, MarkdownReport.Render(results), utf8);
        File.WriteAllText(html, HtmlReport.Render(results), utf8);
        return [json, md, html];
    }

    /// <summary>results.json's text.</summary>
    public static string ToJson(ExperimentResults results) =>
        JsonSerializer.Serialize(new ResultsFile(ResultsFormatName, ResultsFormatVersion, results), Json).ReplaceLineEndings("\n") + "\n";

    /// <summary>Reads a results.json, checking its format name and version; throws <see cref="InvalidDataException"/> saying what is wrong and what to do.</summary>
    public static ExperimentResults ReadResults(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such results file; `ragtune compare --out <dir>` writes <dir>/{ResultsFileName}.", path);
        var text = File.ReadAllText(path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{path}: field 'format' is missing; this is not a RagTune results file (expected format '{ResultsFormatName}').");
            if (format.GetString() != ResultsFormatName)
                throw new InvalidDataException($"{path}: field 'format' is '{format.GetString()}', expected '{ResultsFormatName}'; pass the results.json that `ragtune compare` wrote.");
            if (!root.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var v))
                throw new InvalidDataException($"{path}: field 'version' is missing or not an integer.");
            if (v > ResultsFormatVersion)
                throw new InvalidDataException($"{path}: field 'version' is {v}, written by a newer RagTune; this build reads version {ResultsFormatVersion}. Upgrade RagTune.");
            if (v < 1) throw new InvalidDataException($"{path}: field 'version' is {v}; versions start at 1.");
            if (!root.TryGetProperty("results", out _)) throw new InvalidDataException($"{path}: field 'results' is missing.");
        }
        try
        {
            var file = JsonSerializer.Deserialize<ResultsFile>(text, Json)
                ?? throw new InvalidDataException($"{path}: the file is empty (null).");
            return file.Results ?? throw new InvalidDataException($"{path}: field 'results' is null.");
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: field '{e.Path}' (line {e.LineNumber + 1}) does not fit the results format: {e.Message}", e); }
    }
}
