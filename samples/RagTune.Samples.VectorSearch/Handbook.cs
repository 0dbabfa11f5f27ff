using Microsoft.Extensions.VectorData;

namespace RagTune.Samples.VectorSearch;

/// <summary>A handbook entry as an application declares it: the attributes are the only schema.</summary>
public sealed class HandbookEntry
{
    /// <summary>The entry's id (a RagTune document id).</summary>
    [VectorStoreKey]
    public string Id { get; set; } = "";

    /// <summary>The text: searched by keywords (BM25) and embedded for vector search.</summary>
    [VectorStoreData(IsFullTextIndexed = true)]
    public string Text { get; set; } = "";

    /// <summary>Which team wrote it; a metadata filter.</summary>
    [VectorStoreData(IsIndexed = true)]
    public string Team { get; set; } = "";

    /// <summary>Whether customers may see it; a metadata filter.</summary>
    [VectorStoreData(IsIndexed = true)]
    public bool Public { get; set; }

    /// <summary>The embedding, made from <see cref="Text"/> by the store's embedding generator.</summary>
    [VectorStoreVector(WordHashEmbedder.Dimensions)]
    public string Embedding => Text;
}

/// <summary>The application: it sees a <see cref="VectorStore"/>, never RagTune's own types.</summary>
public static class Handbook
{
    /// <summary>The collection the sample writes.</summary>
    public const string CollectionName = "handbook";

    private static readonly HandbookEntry[] s_entries =
    [
        new() { Id = "refunds", Team = "support", Public = true, Text = "Refunds are paid within 14 days to the card used for the order." },
        new() { Id = "shipping", Team = "support", Public = true, Text = "Orders ship from the Leeds warehouse; express shipping arrives the next day." },
        new() { Id = "oncall", Team = "engineering", Public = false, Text = "The on-call engineer answers pages within 15 minutes and writes the incident report." },
        new() { Id = "deploys", Team = "engineering", Public = false, Text = "Deploys run on weekdays before 16:00; a failed deploy is rolled back, never fixed forward." },
        new() { Id = "expenses", Team = "finance", Public = false, Text = "Expenses over 500 euros need a manager's approval before the order is placed." },
    ];

    /// <summary>Fills the collection and prints what each kind of search finds; returns the ids found, per search.</summary>
    public static async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> RunAsync(VectorStore store, TextWriter output, CancellationToken ct = default)
    {
        var collection = store.GetCollection<string, HandbookEntry>(CollectionName);
        await collection.EnsureCollectionExistsAsync(ct);
        await collection.UpsertAsync(s_entries, ct);
        var found = new Dictionary<string, IReadOnlyList<string>>();

        // Vector search, filtered on metadata.
        var publicOnly = new List<string>();
        await foreach (var r in collection.SearchAsync("when do I get my money back for an order", 2, new() { Filter = e => e.Public && e.Team == "support" }, ct))
            publicOnly.Add(r.Record.Id);
        found["vector, public support entries"] = publicOnly;

        // Keyword + vector (hybrid) search, when the provider offers it.
        var hybrid = new List<string>();
        if (collection.GetService(typeof(IKeywordHybridSearchable<HandbookEntry>)) is IKeywordHybridSearchable<HandbookEntry> keywords)
            await foreach (var r in keywords.HybridSearchAsync("what happens when a deploy fails", ["deploy", "rolled", "back"], 3, new() { Filter = e => e.Team == "engineering" }, ct))
                hybrid.Add(r.Record.Id);
        found["hybrid, engineering"] = hybrid;

        // Plain filtered retrieval.
        var finance = new List<string>();
        await foreach (var e in collection.GetAsync(e => e.Team == "finance", 10, cancellationToken: ct)) finance.Add(e.Id);
        found["filter, finance"] = finance;

        foreach (var (search, ids) in found) await output.WriteLineAsync($"{search}: {string.Join(", ", ids)}");
        return found;
    }
}
