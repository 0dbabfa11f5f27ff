using System.Globalization;
using System.Text.Json;

namespace RagTune.Evaluation.Retrieval;

/// <summary>A BEIR corpus document (<c>corpus.jsonl</c>: <c>_id</c>, <c>title</c>, <c>text</c>).</summary>
public sealed record BeirDocument(string Id, string Title, string Text);

/// <summary>A BEIR query (<c>queries.jsonl</c>: <c>_id</c>, <c>text</c>).</summary>
public sealed record BeirQuery(string Id, string Text);

/// <summary>A retrieval benchmark in the BEIR layout (https://github.com/beir-cellar/beir).</summary>
/// <param name="Corpus">The documents.</param>
/// <param name="Queries">All queries (some may have no judgements).</param>
/// <param name="Qrels">query id → (document id → graded relevance); 0 means judged not relevant.</param>
public sealed record BeirDataset(IReadOnlyList<BeirDocument> Corpus, IReadOnlyList<BeirQuery> Queries,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Qrels)
{
    /// <summary>The queries that have at least one relevant document (the ones BEIR scores).</summary>
    public IReadOnlyList<BeirQuery> JudgedQueries =>
        Queries.Where(q => Qrels.TryGetValue(q.Id, out var rels) && rels.Values.Any(r => r > 0)).ToList();
}

/// <summary>A line of a data file that cannot be read; the message names the file and line.</summary>
internal sealed class DatasetFormatException(string message) : IOException(message);

/// <summary>Reads BEIR files, with errors that name file and line.</summary>
public static class BeirLoader
{
    /// <summary>Loads corpus, queries and qrels; a qrels line naming an unknown query or document is an error.</summary>
    public static BeirDataset Load(string corpusPath, string queriesPath, string qrelsPath)
    {
        var corpus = ReadCorpus(corpusPath);
        var queries = ReadQueries(queriesPath);
        var qrels = ReadQrels(qrelsPath);
        var docIds = corpus.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        var queryIds = queries.Select(q => q.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var (qid, rels) in qrels)
        {
            if (!queryIds.Contains(qid)) throw new DatasetFormatException($"{qrelsPath}: query '{qid}' is not in {queriesPath}.");
            foreach (var did in rels.Keys)
                if (!docIds.Contains(did)) throw new DatasetFormatException($"{qrelsPath}: document '{did}' (query '{qid}') is not in {corpusPath}.");
        }
        return new BeirDataset(corpus, queries, qrels);
    }

    /// <summary>Reads a BEIR <c>corpus.jsonl</c>; a line without <c>_id</c> or <c>text</c>, or a duplicate id, is an error naming the line.</summary>
    public static List<BeirDocument> ReadCorpus(string path)
    {
        var docs = new List<BeirDocument>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (line, root) in JsonLines(path))
        {
            var id = Field(root, "_id", path, line, required: true)!;
            if (!seen.Add(id)) throw new DatasetFormatException($"{path}:{line}: duplicate _id '{id}'.");
            docs.Add(new BeirDocument(id, Field(root, "title", path, line, required: false) ?? "", Field(root, "text", path, line, required: true)!));
        }
        return docs;
    }

    internal static List<BeirQuery> ReadQueries(string path)
    {
        var queries = new List<BeirQuery>();
        foreach (var (line, root) in JsonLines(path))
            queries.Add(new BeirQuery(Field(root, "_id", path, line, required: true)!, Field(root, "text", path, line, required: true)!));
        return queries;
    }

    /// <summary>Tab-separated <c>query-id corpus-id score</c> with that header line.</summary>
    public static Dictionary<string, IReadOnlyDictionary<string, int>> ReadQrels(string path)
    {
        var result = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (text.Length == 0) continue;
            var parts = text.Split('\t');
            if (line == 1)
            {
                if (parts.Length != 3 || parts[0] != "query-id" || parts[1] != "corpus-id" || parts[2] != "score")
                    throw new DatasetFormatException($"{path}:1: expected the header 'query-id<TAB>corpus-id<TAB>score', found '{text}'.");
                continue;
            }
            if (parts.Length != 3)
                throw new DatasetFormatException($"{path}:{line}: expected 3 tab-separated fields (query-id, corpus-id, score), found {parts.Length}.");
            if (!int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out int score))
                throw new DatasetFormatException($"{path}:{line}: score '{parts[2]}' is not an integer.");
            if (!result.TryGetValue(parts[0], out var rels)) result[parts[0]] = rels = new Dictionary<string, int>(StringComparer.Ordinal);
            rels[parts[1]] = score;
        }
        if (line == 0) throw new DatasetFormatException($"{path}: the file is empty; expected the header 'query-id<TAB>corpus-id<TAB>score'.");
        return result.ToDictionary(kv => kv.Key, kv => (IReadOnlyDictionary<string, int>)kv.Value, StringComparer.Ordinal);
    }

    private static IEnumerable<(int Line, JsonElement Root)> JsonLines(string path)
    {
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(text);
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new DatasetFormatException($"{path}:{line}: not valid JSON ({e.Message}).");
            }
            if (root.ValueKind != JsonValueKind.Object) throw new DatasetFormatException($"{path}:{line}: expected a JSON object, found {root.ValueKind}.");
            yield return (line, root);
        }
    }

    private static string? Field(JsonElement root, string name, string path, int line, bool required)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw new DatasetFormatException($"{path}:{line}: missing field \"{name}\".") : null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => throw new DatasetFormatException($"{path}:{line}: field \"{name}\" must be a string, found {v.ValueKind}."),
        };
    }
}
