using System.Text.Json;
using RagTune.FineTuning.Datasets;

namespace RagTune.FineTuning.Embeddings;

/// <summary>One retrieval training example: a query, a passage that answers it, and passages that do not.</summary>
/// <param name="Query">The query text.</param>
/// <param name="Positive">A relevant passage.</param>
/// <param name="Negatives">Hard negatives: passages that look relevant but are not (from the file or mined by BM25).</param>
/// <param name="Line">1-based line in the pairs file (0 when built in code).</param>
public sealed record EmbeddingPair(string Query, string Positive, IReadOnlyList<string> Negatives, int Line = 0);

/// <summary>
/// Reads a pairs file for <c>ragtune tune-embeddings</c>: JSON lines <c>{"query": "…", "positive": "…"}</c> with an
/// optional <c>"negative"</c> (a string or an array of strings). Blank lines are skipped; every bad line is reported
/// with its number (<see cref="DatasetFormatException"/>).
/// </summary>
public static class EmbeddingPairsReader
{
    /// <summary>The pairs of the file at <paramref name="path"/>, in file order.</summary>
    public static IReadOnlyList<EmbeddingPair> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Pairs file '{path}' does not exist; pass JSON lines of {{\"query\", \"positive\"[, \"negative\"]}}.", path);
        var pairs = new List<EmbeddingPair>();
        var issues = new List<DatasetIssue>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (Parse(doc.RootElement, lineNo, out var error) is { } pair) pairs.Add(pair);
                else issues.Add(new DatasetIssue(lineNo, error!));
            }
            catch (JsonException e)
            {
                issues.Add(new DatasetIssue(lineNo, $"not valid JSON ({e.Message})"));
            }
        }
        if (issues.Count == 0 && pairs.Count == 0)
            issues.Add(new DatasetIssue(0, "the file holds no pairs; each line must be {\"query\": \"…\", \"positive\": \"…\"}"));
        if (issues.Count > 0) throw new DatasetFormatException(path, issues);
        return pairs;
    }

    private static EmbeddingPair? Parse(JsonElement root, int line, out string? problem)
    {
        string? error = null;
        problem = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            problem = "expected a JSON object {\"query\": \"…\", \"positive\": \"…\"[, \"negative\": \"…\" or [\"…\"]]}";
            return null;
        }
        string? Text(string field)
        {
            if (!root.TryGetProperty(field, out var v)) { error ??= $"field \"{field}\" is missing"; return null; }
            if (v.ValueKind != JsonValueKind.String) { error ??= $"field \"{field}\" must be a string, not {v.ValueKind.ToString().ToLowerInvariant()}"; return null; }
            var s = v.GetString()!;
            if (string.IsNullOrWhiteSpace(s)) { error ??= $"field \"{field}\" is empty"; return null; }
            return s;
        }
        var query = Text("query");
        var positive = Text("positive");
        var negatives = new List<string>();
        if (root.TryGetProperty("negative", out var n))
        {
            if (n.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(n.GetString())) negatives.Add(n.GetString()!);
            else if (n.ValueKind == JsonValueKind.Array && n.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(e.GetString())))
                negatives.AddRange(n.EnumerateArray().Select(e => e.GetString()!));
            else error ??= "field \"negative\" must be a non-empty string or an array of non-empty strings";
        }
        problem = error;
        if (error != null || query == null || positive == null) return null;
        return new EmbeddingPair(query, positive, negatives, line);
    }
}
