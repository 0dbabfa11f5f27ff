using RagTune.Rag.Store;
using RagTune.Rag.Text;

namespace RagTune.Rag.Retrieval;

/// <summary>
/// Maximal marginal relevance (Carbonell &amp; Goldstein, SIGIR 1998): repeatedly pick the candidate maximising
/// <c>λ·rel(d) − (1−λ)·max_{s∈selected} sim(d, s)</c>. Relevance is the hit's score min-max scaled over the
/// candidates actually retrieved (observed range, not an assumed one); similarity is cosine of embeddings when
/// given, else Jaccard overlap of content terms. λ = 1 keeps the original order.
/// </summary>
internal static class Mmr
{
    /// <summary>Reorders <paramref name="hits"/> (best first) and keeps <paramref name="k"/>.</summary>
    public static IReadOnlyList<SearchHit> Select(IReadOnlyList<SearchHit> hits, int k, double lambda, Func<int, int, double> similarity)
    {
        ArgumentNullException.ThrowIfNull(hits);
        ArgumentNullException.ThrowIfNull(similarity);
        if (lambda is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "MMR lambda must be in [0, 1].");
        var n = hits.Count;
        if (n == 0 || k <= 0) return [];
        var min = hits.Min(h => h.Score);
        var max = hits.Max(h => h.Score);
        var rel = hits.Select(h => max > min ? (h.Score - min) / (max - min) : 1.0).ToArray();
        var chosen = new List<int>();
        var maxSim = new double[n];
        var used = new bool[n];
        while (chosen.Count < Math.Min(k, n))
        {
            var best = -1;
            var bestValue = double.NegativeInfinity;
            for (var i = 0; i < n; i++)
            {
                if (used[i]) continue;
                var value = lambda * rel[i] - (1 - lambda) * (chosen.Count == 0 ? 0 : maxSim[i]);
                if (value > bestValue + 1e-12) { best = i; bestValue = value; }
            }
            used[best] = true;
            chosen.Add(best);
            for (var i = 0; i < n; i++)
                if (!used[i]) maxSim[i] = Math.Max(maxSim[i], similarity(i, best));
        }
        return chosen.Select((i, r) => hits[i] with { Rank = r + 1 }).ToList();
    }

    /// <summary>Similarity by Jaccard overlap of content-term sets.</summary>
    public static Func<int, int, double> JaccardSimilarity(IReadOnlyList<SearchHit> hits)
    {
        var sets = hits.Select(h => Terms.ContentSet(h.Chunk.Chunk.Text)).ToArray();
        return (a, b) =>
        {
            var sa = sets[a];
            var sb = sets[b];
            if (sa.Count == 0 && sb.Count == 0) return 0;
            var inter = sa.Count(sb.Contains);
            return (double)inter / (sa.Count + sb.Count - inter);
        };
    }

    /// <summary>Similarity by cosine of the given vectors (one per hit).</summary>
    public static Func<int, int, double> CosineSimilarity(IReadOnlyList<float[]> vectors) =>
        (a, b) => Cosine(vectors[a], vectors[b]);

    /// <summary>Cosine similarity; 0 for a zero vector.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Vector lengths differ ({a.Length} vs {b.Length}).");
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }
}
