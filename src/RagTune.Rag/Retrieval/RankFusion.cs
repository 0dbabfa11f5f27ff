using RagTune.Rag.Store;

namespace RagTune.Rag.Retrieval;

/// <summary>
/// Reciprocal rank fusion (Cormack, Clarke &amp; Büttcher, SIGIR 2009): <c>score(d) = Σ_r w_r / (k + rank_r(d))</c>
/// over the rankings that contain d, rank from 1. Only ranks are used, never raw scores: BM25 and cosine live on
/// unrelated scales and normalising them by an assumed range is unsound. k = 60 is the paper's constant.
/// </summary>
internal static class RankFusion
{
    /// <summary>The paper's k.</summary>
    public const int DefaultRrfK = 60;

    /// <summary>Fused scores per key. Each ranking is best first; a key repeated within one ranking counts at its best rank.</summary>
    public static Dictionary<TKey, double> Scores<TKey>(IReadOnlyList<IReadOnlyList<TKey>> rankings, IReadOnlyList<double> weights, int rrfK = DefaultRrfK)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(rankings);
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Count != rankings.Count) throw new ArgumentException($"{rankings.Count} rankings but {weights.Count} weights.", nameof(weights));
        if (rrfK < 0) throw new ArgumentOutOfRangeException(nameof(rrfK), rrfK, "RRF k must be non-negative.");
        var scores = new Dictionary<TKey, double>();
        for (var r = 0; r < rankings.Count; r++)
        {
            var seen = new HashSet<TKey>();
            for (var i = 0; i < rankings[r].Count; i++)
            {
                var key = rankings[r][i];
                if (!seen.Add(key)) continue;
                scores[key] = scores.GetValueOrDefault(key) + weights[r] / (rrfK + i + 1);
            }
        }
        return scores;
    }

    /// <summary>
    /// Fuses hit lists (each best first) by chunk id into the top <paramref name="k"/>, retriever "hybrid".
    /// Ties break by the best single rank, then by chunk id, so results are deterministic.
    /// </summary>
    public static IReadOnlyList<SearchHit> Fuse(IReadOnlyList<IReadOnlyList<SearchHit>> lists, IReadOnlyList<double> weights, int k, int rrfK = DefaultRrfK)
    {
        ArgumentNullException.ThrowIfNull(lists);
        var rankings = lists.Select(l => (IReadOnlyList<long>)l.Select(h => h.Chunk.ChunkId).ToList()).ToList();
        var scores = Scores(rankings, weights, rrfK);
        var chunks = new Dictionary<long, StoredChunk>();
        var bestRank = new Dictionary<long, int>();
        foreach (var list in lists)
            for (var i = 0; i < list.Count; i++)
            {
                var id = list[i].Chunk.ChunkId;
                chunks.TryAdd(id, list[i].Chunk);
                bestRank[id] = Math.Min(bestRank.GetValueOrDefault(id, int.MaxValue), i + 1);
            }
        return scores
            .OrderByDescending(p => p.Value).ThenBy(p => bestRank[p.Key]).ThenBy(p => p.Key)
            .Take(k)
            .Select((p, i) => new SearchHit(chunks[p.Key], p.Value, i + 1, "hybrid"))
            .ToList();
    }
}
