using RagTune.Rag.Store;
using RagTune.Rag.Text;

namespace RagTune.Rag.Retrieval;

/// <summary>Reorders retrieved hits for a query (cross-encoders, LLM judges, or <see cref="LexicalReranker"/>).</summary>
public interface IReranker
{
    /// <summary>Returns the best <paramref name="topN"/> of <paramref name="hits"/>, best first, ranks from 1.</summary>
    Task<IReadOnlyList<SearchHit>> RerankAsync(string query, IReadOnlyList<SearchHit> hits, int topN, CancellationToken cancellationToken);
}

/// <summary>
/// A model-free reranker over the candidate set. Per hit, with q the distinct content terms of the query:
/// <list type="bullet">
/// <item><c>coverage</c> = |q ∩ terms(chunk)| / |q|;</item>
/// <item><c>bm25</c> = Σ_{t∈q} idf(t)·tf·(k1+1)/(tf + k1·(1 − b + b·len/avglen)), k1 = 1.2, b = 0.75, with
/// idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5)) over the N candidates, divided by the best value among the candidates;</item>
/// <item><c>phrase</c> = fraction of the query's adjacent content-term bigrams found adjacent (ignoring stopwords) in the chunk;</item>
/// <item><c>title</c> = |q ∩ terms(title + heading path)| / |q|.</item>
/// </list>
/// score = 0.35·coverage + 0.35·bm25 + 0.2·phrase + 0.1·title; ties keep the incoming order.
/// </summary>
internal sealed class LexicalReranker : IReranker
{
    /// <inheritdoc />
    public Task<IReadOnlyList<SearchHit>> RerankAsync(string query, IReadOnlyList<SearchHit> hits, int topN, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(hits);
        return Task.FromResult(Rerank(query, hits, topN));
    }

    /// <summary>Synchronous form of <see cref="RerankAsync"/>.</summary>
    public IReadOnlyList<SearchHit> Rerank(string query, IReadOnlyList<SearchHit> hits, int topN)
    {
        if (hits.Count == 0 || topN <= 0) return [];
        var qList = Terms.Content(query);
        var q = new HashSet<string>(qList, StringComparer.Ordinal);
        var qBigrams = new HashSet<(string, string)>();
        for (var i = 1; i < qList.Count; i++) qBigrams.Add((qList[i - 1], qList[i]));
        var docs = hits.Select(h => Terms.Content(h.Chunk.Chunk.Text)).ToArray();
        var n = hits.Count;
        var avgLen = Math.Max(1.0, docs.Average(d => d.Count));
        var df = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var d in docs)
            foreach (var t in d.Distinct())
                if (q.Contains(t)) df[t] = df.GetValueOrDefault(t) + 1;
        var bm25 = new double[n];
        var features = new (double Coverage, double Phrase, double Title)[n];
        for (var i = 0; i < n; i++)
        {
            var d = docs[i];
            var tf = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var t in d) if (q.Contains(t)) tf[t] = tf.GetValueOrDefault(t) + 1;
            const double k1 = 1.2, b = 0.75;
            foreach (var (t, f) in tf)
            {
                var idf = Math.Log(1 + (n - df[t] + 0.5) / (df[t] + 0.5));
                bm25[i] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * d.Count / avgLen));
            }
            var phrase = 0.0;
            if (qBigrams.Count > 0)
            {
                var found = new HashSet<(string, string)>();
                for (var j = 1; j < d.Count; j++)
                    if (qBigrams.Contains((d[j - 1], d[j]))) found.Add((d[j - 1], d[j]));
                phrase = (double)found.Count / qBigrams.Count;
            }
            var chunk = hits[i].Chunk;
            var titleTerms = Terms.ContentSet(chunk.Title + " " + string.Join(" ", chunk.Chunk.HeadingPath));
            features[i] = (Terms.Coverage(q, tf.Keys.ToHashSet(StringComparer.Ordinal)), phrase, Terms.Coverage(q, titleTerms));
        }
        var maxBm25 = bm25.Max();
        return Enumerable.Range(0, n)
            .Select(i => (Index: i, Score: 0.35 * features[i].Coverage + 0.35 * (maxBm25 > 0 ? bm25[i] / maxBm25 : 0) + 0.2 * features[i].Phrase + 0.1 * features[i].Title))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Index)
            .Take(topN)
            .Select((x, r) => hits[x.Index] with { Score = x.Score, Rank = r + 1, Retriever = "rerank" })
            .ToList();
    }
}
