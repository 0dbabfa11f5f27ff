using RagTune.Models.Embeddings;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Pipelines;

/// <summary>
/// <see cref="IReranker"/> over a local cross-encoder (BERT with a one-label head, the ms-marco MiniLM layout). It
/// lives with the composition because RagTune.Models may not reference RagTune.Rag. Only the first-stage top <c>candidates</c> are scored (a cross-encoder reads every pair); the rest
/// keep their first-stage order after them.
/// </summary>
public sealed class CrossEncoderReranker(LocalCrossEncoder encoder, int candidates) : IReranker, IDisposable
{
    /// <inheritdoc />
    public async Task<IReadOnlyList<SearchHit>> RerankAsync(string query, IReadOnlyList<SearchHit> hits, int topN, CancellationToken cancellationToken)
    {
        var head = hits.Take(candidates).ToList();
        var scores = await encoder.ScoreAsync(query, head.Select(h => h.Chunk.Chunk.Text).ToList(), cancellationToken).ConfigureAwait(false);
        var reranked = head.Select((h, i) => h with { Score = scores[i], Retriever = "rerank" })
            .OrderByDescending(h => h.Score)
            .Concat(hits.Skip(candidates))
            .Take(topN)
            .Select((h, i) => h with { Rank = i + 1 })
            .ToList();
        return reranked;
    }

    /// <summary>Disposes the cross-encoder.</summary>
    public void Dispose() => encoder.Dispose();
}
