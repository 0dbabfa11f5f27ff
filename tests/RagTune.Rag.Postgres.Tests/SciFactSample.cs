using System.Text.Json;
using RagTune.Rag.Store;
using RagTune.TestKit;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>The first abstracts and queries of BEIR SciFact (../shared): real scientific English, Greek letters and all.</summary>
internal static class SciFactSample
{
    public static List<(string Id, string Title, string Text)> Documents(int count) =>
        File.ReadLines(SharedData.File("data", "beir-scifact", "corpus.jsonl")).Take(count)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Select(e => (e.GetProperty("_id").GetString()!, e.GetProperty("title").GetString()!, e.GetProperty("text").GetString()!))
            .ToList();

    public static List<string> Queries(int count) =>
        File.ReadLines(SharedData.File("data", "beir-scifact", "queries.jsonl")).Take(count)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!)
            .ToList();

    /// <summary>One chunk per abstract, titled, with a heading, as ingest writes a JSONL record.</summary>
    public static List<DocumentWrite> Writes(IEnumerable<(string Id, string Title, string Text)> docs, int dims = 0, int seed = 1)
    {
        var rng = new Random(seed);
        return docs.Select(d => new DocumentWrite(
            new SourceDocument(d.Id, "corpus.jsonl#" + d.Id, d.Title, d.Text, "h" + d.Id, new Dictionary<string, string> { ["ext"] = "jsonl", ["half"] = (d.Id.Length % 2).ToString(System.Globalization.CultureInfo.InvariantCulture) }),
            [new Chunk(0, d.Text, 0, d.Text.Length, ["Abstract"], d.Text.Length / 4)],
            dims > 0 ? [StoreData.RandomVector(rng, dims)] : null)).ToList();
    }
}
