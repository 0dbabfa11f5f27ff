using RagTune.Rag.Store;

namespace RagTune.Rag.Retrieval;

/// <summary>
/// Reciprocal rank fusion (Cormack, Clarke &amp; Büttcher, SIGIR 2009): <c>score(d) = Σ_r w_r / (k + rank_r(d))</c>
/// over the rankings that contain d, rank from 1. Only ranks are used: BM25 and cosine live on unrelated scales.
/// k = 60 is the paper's constant. <see cref="FuseScores"/> is the score-based alternative hybrid search uses by default.
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
    /// Fuses hit lists (each best first) by chunk id into the top <paramref name="k"/>, retriever "hybrid", by RRF.
    /// Ties break by the best single rank, then by chunk id, so results are deterministic.
    /// </summary>
    public static IReadOnlyList<SearchHit> Fuse(IReadOnlyList<IReadOnlyList<SearchHit>> lists, IReadOnlyList<double> weights, int k, int rrfK = DefaultRrfK)
    {
        ArgumentNullException.ThrowIfNull(lists);
        var rankings = lists.Select(l => (IReadOnlyList<long>)l.Select(h => h.Chunk.ChunkId).ToList()).ToList();
        return Ordered(lists, Scores(rankings, weights, rrfK), k);
    }

    /// <summary>
    /// Fuses hit lists by a convex combination of their min–max normalised scores, the fusion Bruch, Gai &amp; Ingber
    /// found better than RRF and less sensitive to its one parameter ("An Analysis of Fusion Functions for Hybrid
    /// Retrieval", TOIS 2023): each list's scores are mapped to [0, 1] by its own lowest and best, so a model whose
    /// cosines all sit in a narrow band (CLS pooling) weighs as much as one whose scores spread; a chunk missing from a
    /// list gets 0 there, since it scored at most that list's lowest; a list whose scores are all equal orders nothing
    /// and gives every chunk 1. The fused score is Σ w_r · s_r / Σ w_r. Ties break as in <see cref="Fuse"/>.
    /// </summary>
    public static IReadOnlyList<SearchHit> FuseScores(IReadOnlyList<IReadOnlyList<SearchHit>> lists, IReadOnlyList<double> weights, int k)
    {
        ArgumentNullException.ThrowIfNull(lists);
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Count != lists.Count) throw new ArgumentException($"{lists.Count} lists but {weights.Count} weights.", nameof(weights));
        double total = weights.Sum();
        var normalised = new List<(Dictionary<long, double> Scores, double Missing)>(lists.Count);
        foreach (var list in lists)
        {
            var scores = new Dictionary<long, double>(list.Count);
            if (list.Count == 0) { normalised.Add((scores, 0)); continue; }
            double lo = list.Min(h => h.Score), hi = list.Max(h => h.Score), range = hi - lo;
            foreach (var h in list)
                scores.TryAdd(h.Chunk.ChunkId, range > 0 ? (h.Score - lo) / range : 1); // first (best) occurrence counts
            normalised.Add((scores, range > 0 ? 0 : 1));
        }
        var fused = new Dictionary<long, double>();
        foreach (var key in normalised.SelectMany(n => n.Scores.Keys).Distinct())
        {
            double sum = 0;
            for (int r = 0; r < lists.Count; r++)
                sum += weights[r] * normalised[r].Scores.GetValueOrDefault(key, normalised[r].Missing);
            fused[key] = total > 0 ? sum / total : 0;
        }
        return Ordered(lists, fused, k);
    }

    // The top k of fused scores as hits, ties broken by the best single rank and then the chunk id.
    private static List<SearchHit> Ordered(IReadOnlyList<IReadOnlyList<SearchHit>> lists, Dictionary<long, double> scores, int k)
    {
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
