using Microsoft.Extensions.AI;
using RagTune.Rag.Store;

namespace RagTune.Rag.Retrieval;

/// <summary>How to search.</summary>
public enum SearchMode
{
    /// <summary>Keyword search (the store's BM25).</summary>
    Bm25,

    /// <summary>Embedding search (cosine); needs an embedding model and an embedded collection.</summary>
    Dense,

    /// <summary>BM25 and dense fused (<see cref="HybridFusion"/>); BM25 alone when the collection or the caller has no embeddings.</summary>
    Hybrid,
}

/// <summary>How hybrid search combines the BM25 and dense lists.</summary>
public enum HybridFusion
{
    /// <summary>A weighted mean of each list's min–max normalised scores (<see cref="RankFusion.FuseScores"/>).</summary>
    Scores,

    /// <summary>Reciprocal rank fusion (<see cref="RankFusion.Fuse"/>): ranks only.</summary>
    Rrf,
}

/// <summary>Retrieval settings. Defaults documented per property.</summary>
public sealed record RetrieverOptions
{
    /// <summary>
    /// How hybrid search fuses the two lists. Default <see cref="HybridFusion.Scores"/>: on SciFact train with
    /// all-MiniLM-L6-v2 it gave nDCG@10 0.735 and with snowflake-arctic-embed-xs 0.736, against BM25's 0.7015 and RRF's 0.721 / 0.722 (docs/embeddings.md).
    /// </summary>
    public HybridFusion Fusion { get; init; } = HybridFusion.Scores;

    /// <summary>RRF k (<see cref="HybridFusion.Rrf"/> only). Default 60 (Cormack et al. 2009).</summary>
    public int RrfK { get; init; } = RankFusion.DefaultRrfK;

    /// <summary>Fusion weight of the BM25 list. Default 1.</summary>
    public double Bm25Weight { get; init; } = 1.0;

    /// <summary>Fusion weight of the dense list. Default 1.</summary>
    public double DenseWeight { get; init; } = 1.0;

    /// <summary>
    /// Depth n at which hybrid search measures how far the dense ranking agrees with BM25 (see <see cref="DenseAgreementFloor"/>);
    /// 0 turns the gate off. Default 10.
    /// </summary>
    public int DenseAgreementDepth { get; init; } = 10;

    /// <summary>
    /// Agreement gate of hybrid search: with a = |BM25 top-n ∩ dense top-n| / n for the query, the dense list's
    /// fusion weight is <see cref="DenseWeight"/> × clamp((a − floor) / floor, 0, 1). A dense model that shares no
    /// documents with BM25's top results (an untrained or off-domain model) then cannot reorder them, so hybrid never
    /// falls below BM25 alone by more than noise; one that corroborates BM25 gets its full vote. Default 0.1: with
    /// depth 10, two shared documents give the full vote. 0.2 (four) was tuned for RRF on random encoders and cost a
    /// real encoder 0.01 nDCG@10 under score fusion (docs/embeddings.md).
    /// </summary>
    public double DenseAgreementFloor { get; init; } = 0.1;

    /// <summary>Candidates fetched per retriever before fusion, reranking or MMR: max(k × this, <see cref="MinCandidates"/>). Default 4.</summary>
    public int CandidateMultiplier { get; init; } = 4;

    /// <summary>Lower bound of candidates per retriever. Default 50.</summary>
    public int MinCandidates { get; init; } = 50;

    /// <summary>MMR λ in [0, 1] (1 = relevance only); null turns MMR off. Default null.</summary>
    public double? MmrLambda { get; init; }

    /// <summary>
    /// Hybrid search runs the keyword search on another thread while the query is embedded and the vectors are
    /// searched, so it costs the slower of the two instead of their sum (the fused list is the same either way). The
    /// store's searches must be safe to run at once (the SQLite store's are: each opens its own connection).
    /// Default true.
    /// </summary>
    public bool ConcurrentRetrievers { get; init; } = true;

    /// <summary>Optional reranker applied to the candidates before MMR and the final cut. Default none.</summary>
    public IReranker? Reranker { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (RrfK < 0) throw new ArgumentException($"RetrieverOptions.RrfK must be non-negative (got {RrfK}).");
        if (Bm25Weight < 0 || DenseWeight < 0 || Bm25Weight + DenseWeight <= 0)
            throw new ArgumentException($"RetrieverOptions weights must be non-negative and not both zero (BM25 {Bm25Weight}, dense {DenseWeight}).");
        if (CandidateMultiplier < 1) throw new ArgumentException($"RetrieverOptions.CandidateMultiplier must be at least 1 (got {CandidateMultiplier}).");
        if (MinCandidates < 1) throw new ArgumentException($"RetrieverOptions.MinCandidates must be at least 1 (got {MinCandidates}).");
        if (DenseAgreementDepth < 0) throw new ArgumentException($"RetrieverOptions.DenseAgreementDepth must be 0 (off) or positive (got {DenseAgreementDepth}).");
        if (DenseAgreementFloor is <= 0 or > 1) throw new ArgumentException($"RetrieverOptions.DenseAgreementFloor must be in (0, 1] (got {DenseAgreementFloor}).");
        if (MmrLambda is < 0 or > 1) throw new ArgumentException($"RetrieverOptions.MmrLambda must be in [0, 1] (got {MmrLambda}).");
    }
}

/// <summary>BM25, dense or hybrid retrieval over an <see cref="IChunkStore"/>, with optional reranking and MMR.</summary>
public sealed class Retriever
{
    private readonly IChunkStore _store;
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _embedder;
    private readonly RetrieverOptions _options;

    /// <summary>Creates a retriever; <paramref name="embedder"/> must be the collection's embedding model (checked per query).</summary>
    public Retriever(IChunkStore store, IEmbeddingGenerator<string, Embedding<float>>? embedder, RetrieverOptions options)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _store = store;
        _embedder = embedder;
        _options = options;
    }

    /// <summary>The <paramref name="k"/> best chunks for <paramref name="query"/>, best first, ranks from 1.</summary>
    public async Task<IReadOnlyList<SearchHit>> SearchAsync(string query, SearchMode mode, int k, SearchFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (string.IsNullOrWhiteSpace(query)) return [];
        var candidates = Math.Max(k * _options.CandidateMultiplier, _options.MinCandidates);
        var dense = mode == SearchMode.Dense || (mode == SearchMode.Hybrid && _embedder != null && _store.Embedding != null);
        IReadOnlyList<SearchHit> hits;
        if (mode == SearchMode.Bm25 || !dense)
        {
            hits = await _store.SearchKeywordAsync(query, candidates, filter, cancellationToken).ConfigureAwait(false);
        }
        else if (mode == SearchMode.Dense)
        {
            hits = await DenseAsync(query, candidates, filter, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var keywordTask = _options.ConcurrentRetrievers
                ? Task.Run(() => _store.SearchKeywordAsync(query, candidates, filter, cancellationToken), cancellationToken)
                : null;
            var denseTask = DenseAsync(query, candidates, filter, cancellationToken);
            if (keywordTask != null) await Task.WhenAll(keywordTask, denseTask).ConfigureAwait(false); // both observed, whichever fails
            var denseHits = await denseTask.ConfigureAwait(false);
            var keyword = keywordTask != null
                ? await keywordTask.ConfigureAwait(false)
                : await _store.SearchKeywordAsync(query, candidates, filter, cancellationToken).ConfigureAwait(false);
            double[] weights = [_options.Bm25Weight, _options.DenseWeight * DenseGate(keyword, denseHits)];
            hits = _options.Fusion == HybridFusion.Rrf
                ? RankFusion.Fuse([keyword, denseHits], weights, candidates, _options.RrfK)
                : RankFusion.FuseScores([keyword, denseHits], weights, candidates);
        }
        if (_options.Reranker != null && hits.Count > 0)
            hits = await _options.Reranker.RerankAsync(query, hits, _options.MmrLambda != null ? hits.Count : k, cancellationToken).ConfigureAwait(false);
        if (_options.MmrLambda is { } lambda && hits.Count > 0)
        {
            var similarity = _embedder != null
                ? Mmr.CosineSimilarity(await EmbedTextsAsync(hits.Select(h => h.Chunk.Chunk.Text).ToList(), cancellationToken).ConfigureAwait(false))
                : Mmr.JaccardSimilarity(hits);
            return Mmr.Select(hits, k, lambda, similarity);
        }
        return hits.Take(k).Select((h, i) => h.Rank == i + 1 ? h : h with { Rank = i + 1 }).ToList();
    }

    private async Task<IReadOnlyList<SearchHit>> DenseAsync(string query, int candidates, SearchFilter filter, CancellationToken ct)
    {
        var vector = await EmbedQueryAsync(query, ct).ConfigureAwait(false);
        return await _store.SearchVectorAsync(vector, candidates, filter, ct).ConfigureAwait(false);
    }

    // The agreement gate (RetrieverOptions.DenseAgreementFloor): 1 when off or when BM25 found nothing to protect.
    private double DenseGate(IReadOnlyList<SearchHit> keyword, IReadOnlyList<SearchHit> dense)
    {
        int n = Math.Min(_options.DenseAgreementDepth, Math.Min(keyword.Count, dense.Count));
        if (_options.DenseAgreementDepth == 0 || keyword.Count == 0 || n == 0) return 1;
        var top = keyword.Take(n).Select(h => h.Chunk.ChunkId).ToHashSet();
        double agreement = (double)dense.Take(n).Count(h => top.Contains(h.Chunk.ChunkId)) / n;
        double floor = _options.DenseAgreementFloor;
        return Math.Clamp((agreement - floor) / floor, 0, 1);
    }

    private async Task<ReadOnlyMemory<float>> EmbedQueryAsync(string query, CancellationToken ct)
    {
        var info = _store.Embedding;
        if (_embedder == null)
            throw new InvalidOperationException(
                $"Dense search needs an embedding model, and none is configured. Configure the model that embedded collection '{_store.Name}'" +
                (info != null ? $" ('{info.ModelId}')" : "") + ", or search with BM25.");
        if (info == null)
            throw new InvalidOperationException($"Collection '{_store.Name}' holds no vectors: ingest it with an embedding model first, or search with BM25.");
        var modelId = _embedder.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId;
        if (modelId != null && !string.Equals(modelId, info.ModelId, StringComparison.Ordinal))
            throw new InvalidOperationException(
                $"Collection '{_store.Name}' was embedded with '{info.ModelId}', but the query would be embedded with '{modelId}': vectors from different models are not comparable. " +
                $"Use '{info.ModelId}' for queries, or re-embed the collection with '{modelId}'.");
        var vectors = await _embedder.GenerateAsync([query], cancellationToken: ct).ConfigureAwait(false);
        var v = vectors[0].Vector;
        if (vectors[0].ModelId is { } used && modelId == null && !string.Equals(used, info.ModelId, StringComparison.Ordinal))
            throw new InvalidOperationException($"Collection '{_store.Name}' was embedded with '{info.ModelId}', but the query was embedded with '{used}'. Use the collection's model or re-embed.");
        if (v.Length != info.Dimensions)
            throw new InvalidOperationException($"The query vector has {v.Length} dimensions, but collection '{_store.Name}' has {info.Dimensions} ('{info.ModelId}'). Use the collection's model or re-embed.");
        return v;
    }

    private async Task<IReadOnlyList<float[]>> EmbedTextsAsync(IList<string> texts, CancellationToken ct)
    {
        var result = await _embedder!.GenerateAsync(texts, cancellationToken: ct).ConfigureAwait(false);
        return result.Select(e => e.Vector.ToArray()).ToList();
    }
}
