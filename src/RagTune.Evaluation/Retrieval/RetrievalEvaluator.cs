using System.Diagnostics;
using RagTune.Rag.Store;

namespace RagTune.Evaluation.Retrieval;

/// <summary>Averages over the judged queries, plus latency.</summary>
public sealed record RetrievalReport(
    string Retriever, int Queries, double NdcgAt10, double RecallAt10, double RecallAt100, double MrrAt10,
    double LatencyP50Ms, double LatencyP95Ms, IReadOnlyList<QueryResult> PerQuery);

/// <summary>
/// One query's metrics, and the documents it retrieved best first with their retriever scores (a document at its best
/// chunk), so two runs can be compared query by query or fused offline.
/// </summary>
public sealed record QueryResult(string QueryId, double NdcgAt10, double RecallAt10, double RecallAt100, double MrrAt10)
{
    /// <summary>The ranked documents (empty in the printed summary; written to the report file).</summary>
    public IReadOnlyList<RetrievedDocument> Retrieved { get; init; } = [];
}

/// <summary>A retrieved document and the score of its best chunk (BM25, cosine or fused, by retriever).</summary>
public sealed record RetrievedDocument(string Id, double Score);

/// <summary>
/// Runs a retriever over every query that has relevance judgements and scores the document ranking. Hits are
/// chunks; a document's rank is that of its best chunk (later chunks of a document already ranked are dropped).
/// </summary>
public static class RetrievalEvaluator
{
    /// <summary>Retrieves this many chunks per query (enough for Recall@100 after collapsing chunks to documents).</summary>
    public const int DefaultDepth = 100;

    /// <summary>Retrieves for every judged query of <paramref name="dataset"/> and scores the document rankings (nDCG, recall, MRR).</summary>
    public static async Task<RetrievalReport> EvaluateAsync(
        BeirDataset dataset, string retrieverName,
        Func<string, int, CancellationToken, Task<IReadOnlyList<SearchHit>>> search,
        int depth = DefaultDepth, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        var queries = dataset.JudgedQueries;
        var perQuery = new List<QueryResult>(queries.Count);
        var latencies = new List<double>(queries.Count);
        foreach (var q in queries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var sw = Stopwatch.StartNew();
            var hits = await search(q.Text, depth, cancellationToken).ConfigureAwait(false);
            latencies.Add(sw.Elapsed.TotalMilliseconds);
            var ranked = hits.Select(h => h.Chunk.DocumentId).ToList();
            var rels = dataset.Qrels[q.Id];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            perQuery.Add(new QueryResult(q.Id,
                RetrievalMetrics.Ndcg(ranked, rels, 10), RetrievalMetrics.Recall(ranked, rels, 10),
                RetrievalMetrics.Recall(ranked, rels, 100), RetrievalMetrics.ReciprocalRank(ranked, rels, 10))
            {
                Retrieved = hits.Where(h => seen.Add(h.Chunk.DocumentId)).Select(h => new RetrievedDocument(h.Chunk.DocumentId, h.Score)).ToList(),
            });
            progress?.Report(perQuery.Count);
        }
        double Mean(Func<QueryResult, double> f) => perQuery.Count == 0 ? 0 : perQuery.Average(f);
        return new RetrievalReport(retrieverName, perQuery.Count, Mean(r => r.NdcgAt10), Mean(r => r.RecallAt10),
            Mean(r => r.RecallAt100), Mean(r => r.MrrAt10), Percentile(latencies, 0.50), Percentile(latencies, 0.95), perQuery);
    }

    /// <summary>Nearest-rank percentile (0 for an empty list).</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        int index = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}
