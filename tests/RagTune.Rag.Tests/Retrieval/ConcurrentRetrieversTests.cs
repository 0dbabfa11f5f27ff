using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;
using RagTune.Rag.Tests.Fakes;
using RagTune.TestKit;

namespace RagTune.Rag.Tests.Retrieval;

/// <summary>Hybrid search with the keyword and dense retrievers at once: the same fused list as one after the other.</summary>
public sealed class ConcurrentRetrieversTests
{
    private static readonly string[] s_words = ["capital", "france", "paris", "tea", "green", "tower", "river", "bridge", "museum", "gate", "wall", "night"];

    [Fact]
    public async Task Concurrent_hybrid_equals_sequential_hybrid()
    {
        var embedder = new HashingEmbedder();
        using var store = await Corpus(embedder, new Random(1));
        var rng = new Random(2);
        foreach (var options in new[] { new RetrieverOptions(), new RetrieverOptions { DenseAgreementDepth = 0, MmrLambda = 0.5, Reranker = new LexicalReranker() } })
        {
            var concurrent = new Retriever(store, embedder, options);
            var sequential = new Retriever(store, embedder, options with { ConcurrentRetrievers = false });
            for (int q = 0; q < 50; q++)
            {
                var query = string.Join(' ', Enumerable.Range(0, 1 + rng.Next(5)).Select(_ => s_words[rng.Next(s_words.Length)]));
                int k = 1 + rng.Next(12);
                var want = await sequential.SearchAsync(query, SearchMode.Hybrid, k, SearchFilter.None, CancellationToken.None);
                var got = await concurrent.SearchAsync(query, SearchMode.Hybrid, k, SearchFilter.None, CancellationToken.None);
                Assert.Equal(want.Select(h => (h.Chunk.ChunkId, h.Score, h.Rank, h.Retriever)), got.Select(h => (h.Chunk.ChunkId, h.Score, h.Rank, h.Retriever)));
            }
        }
    }

    [Fact]
    public async Task Keyword_search_runs_while_the_vectors_are_searched()
    {
        var embedder = new HashingEmbedder();
        using var inner = await Corpus(embedder, new Random(3));
        using var store = new RendezvousStore(inner);
        var hits = await new Retriever(store, embedder, new RetrieverOptions()).SearchAsync("paris tower", SearchMode.Hybrid, 3, SearchFilter.None, CancellationToken.None);
        Assert.NotEmpty(hits);
        Assert.True(store.Met, "the keyword search did not overlap the vector search");
    }

    [Fact]
    public async Task A_failing_dense_side_fails_the_search_after_the_keyword_side_ends()
    {
        using var store = await Corpus(new HashingEmbedder("hash-64"), new Random(4));
        var other = new Retriever(store, new HashingEmbedder("other-model"), new RetrieverOptions());
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => other.SearchAsync("paris", SearchMode.Hybrid, 3, SearchFilter.None, CancellationToken.None));
        Assert.Contains("other-model", e.Message);
    }

    private static async Task<InMemoryChunkStore> Corpus(HashingEmbedder embedder, Random rng)
    {
        var store = new InMemoryChunkStore();
        var info = new EmbeddingInfo(((Microsoft.Extensions.AI.EmbeddingGeneratorMetadata)embedder.GetService(typeof(Microsoft.Extensions.AI.EmbeddingGeneratorMetadata))!).DefaultModelId!, 64);
        var writes = new List<DocumentWrite>();
        for (int d = 0; d < 120; d++)
        {
            var text = string.Join(' ', Enumerable.Range(0, 3 + rng.Next(12)).Select(_ => s_words[rng.Next(s_words.Length)]));
            var id = "d" + d;
            writes.Add(new DocumentWrite(new SourceDocument(id, id, id, text, id, new Dictionary<string, string>()),
                [new Chunk(0, text, 0, text.Length, [], 4)], [embedder.Vector(text)]));
        }
        await store.WriteBatchAsync(writes, info);
        return store;
    }

    /// <summary>A store whose keyword search and vector search each wait (up to 5 s) for the other to start.</summary>
    private sealed class RendezvousStore(InMemoryChunkStore inner) : IChunkStore
    {
        private readonly ManualResetEventSlim _vectorStarted = new();
        private readonly ManualResetEventSlim _keywordStarted = new();

        public bool Met { get; private set; }
        public string Name => inner.Name;
        public EmbeddingInfo? Embedding => inner.Embedding;

        public Task<IReadOnlyList<SearchHit>> SearchKeywordAsync(string query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
        {
            _keywordStarted.Set();
            _vectorStarted.Wait(TimeSpan.FromSeconds(5));
            return inner.SearchKeywordAsync(query, k, filter, cancellationToken);
        }

        public Task<IReadOnlyList<SearchHit>> SearchVectorAsync(ReadOnlyMemory<float> query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
        {
            _vectorStarted.Set();
            Met = _keywordStarted.Wait(TimeSpan.FromSeconds(5)); // one after the other, the keyword search starts only after this returns
            return inner.SearchVectorAsync(query, k, filter, cancellationToken);
        }

        public Task<IReadOnlyDictionary<string, DocumentState>> GetDocumentStatesAsync(CancellationToken cancellationToken = default) => inner.GetDocumentStatesAsync(cancellationToken);
        public Task WriteBatchAsync(IReadOnlyList<DocumentWrite> batch, EmbeddingInfo? embedding, CancellationToken cancellationToken = default) => inner.WriteBatchAsync(batch, embedding, cancellationToken);
        public Task DeleteDocumentsAsync(IReadOnlyCollection<string> documentIds, CancellationToken cancellationToken = default) => inner.DeleteDocumentsAsync(documentIds, cancellationToken);
        public Task<TermStatistics> GetTermStatisticsAsync(IReadOnlyCollection<string> terms, CancellationToken cancellationToken = default) => inner.GetTermStatisticsAsync(terms, cancellationToken);
        public Task<StoredChunk?> GetChunkAsync(long chunkId, CancellationToken cancellationToken = default) => inner.GetChunkAsync(chunkId, cancellationToken);
        public Task<IReadOnlyList<StoredChunk>> GetAllChunksAsync(CancellationToken cancellationToken = default) => inner.GetAllChunksAsync(cancellationToken);
        public Task<CollectionStats> GetStatsAsync(CancellationToken cancellationToken = default) => inner.GetStatsAsync(cancellationToken);

        public void Dispose()
        {
            _vectorStarted.Dispose();
            _keywordStarted.Dispose();
        }
    }
}
