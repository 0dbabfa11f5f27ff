using RagTune.Rag.Ingestion;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;
using RagTune.Rag.Tests.Fakes;
using RagTune.TestKit;

namespace RagTune.Rag.Tests.Retrieval;

public sealed class RetrievalTests
{
    private static SearchHit Hit(long id, string text = "x", double score = 1, string title = "t") =>
        new(new StoredChunk(id, "d" + id, "s" + id, title, new Chunk(0, text, 0, text.Length, [], 1), new Dictionary<string, string>()), score, 1, "test");

    [Fact]
    public void Rrf_matches_hand_computed_scores()
    {
        // A: ranks 1 and 3 → 1/61 + 1/63; B: 2 and 1 → 1/62 + 1/61; C: 3 in list one only → 1/63; D: 2 in list two only, weight 0.5 → 0.5/62.
        var s = RankFusion.Scores<string>([["A", "B", "C"], ["B", "D", "A"]], [1.0, 1.0]);
        Assert.Equal(1.0 / 61 + 1.0 / 63, s["A"], 12);
        Assert.Equal(1.0 / 62 + 1.0 / 61, s["B"], 12);
        Assert.Equal(1.0 / 63, s["C"], 12);
        var w = RankFusion.Scores<string>([["A", "B", "C"], ["B", "D", "A"]], [1.0, 0.5], rrfK: 10);
        Assert.Equal(1.0 / 11 + 0.5 / 13, w["A"], 12);
        Assert.Equal(0.5 / 12, w["D"], 12);
        var fused = RankFusion.Fuse([[Hit(1), Hit(2), Hit(3)], [Hit(2), Hit(4), Hit(1)]], [1, 1], 3);
        // 4 (rank 2 in one list: 1/62) beats 3 (rank 3 in the other: 1/63).
        Assert.Equal([2L, 1L, 4L], fused.Select(h => h.Chunk.ChunkId));
        Assert.Equal([1, 2, 3], fused.Select(h => h.Rank));
        Assert.All(fused, h => Assert.Equal("hybrid", h.Retriever));
    }

    [Fact]
    public void Score_fusion_matches_hand_computed_means_of_normalised_scores()
    {
        // BM25 list: 1 (8), 2 (4), 3 (2) → 1, 1/3, 0; dense list: 2 (0.8), 4 (0.4), 5 (−0.2) → 1, 0.6, 0 (min–max each).
        // Missing from a list: 0 there. Weights 1 and 3.
        var fused = RankFusion.FuseScores([[Hit(1, score: 8), Hit(2, score: 4), Hit(3, score: 2)], [Hit(2, score: 0.8), Hit(4, score: 0.4), Hit(5, score: -0.2)]], [1, 3], 5);
        var want = new Dictionary<long, double>
        {
            [2] = (1.0 / 3 + 3 * 1.0) / 4, [4] = (0 + 3 * 0.6) / 4, [1] = (1.0 + 0) / 4, [3] = 0, [5] = 0,
        };
        Assert.Equal([2L, 4L, 1L, 3L, 5L], fused.Select(h => h.Chunk.ChunkId)); // 3 and 5 tie, and so do their best ranks (3): the lower id first
        foreach (var h in fused) Assert.Equal(want[h.Chunk.ChunkId], h.Score, 12);
        Assert.Equal([1, 2, 3, 4, 5], fused.Select(h => h.Rank));
        // A list whose scores are all equal gives everything 1 (it orders nothing); an empty list adds 0 to all.
        var flat = RankFusion.FuseScores([[Hit(1, score: 3), Hit(2, score: 1)], [Hit(2, score: 0.5), Hit(7, score: 0.5)], []], [1, 1, 1], 3);
        Assert.Equal([1L, 2L, 7L], flat.Select(h => h.Chunk.ChunkId));
        Assert.Equal(2.0 / 3, flat[0].Score, 12);
        Assert.Equal(1.0 / 3, flat[1].Score, 12);
        Assert.Equal(1.0 / 3, flat[2].Score, 12);
    }

    [Fact]
    public void Mmr_demotes_near_duplicates()
    {
        var hits = new[]
        {
            Hit(1, "solar panels convert sunlight electricity", 3.0),
            Hit(2, "solar panels convert sunlight electricity today", 2.9),
            Hit(3, "wind turbines generate power offshore", 2.0),
        };
        var plain = Mmr.Select(hits, 2, 1.0, Mmr.JaccardSimilarity(hits));
        Assert.Equal([1L, 2L], plain.Select(h => h.Chunk.ChunkId));
        var diverse = Mmr.Select(hits, 2, 0.3, Mmr.JaccardSimilarity(hits));
        Assert.Equal([1L, 3L], diverse.Select(h => h.Chunk.ChunkId));
        Assert.Equal([1, 2], diverse.Select(h => h.Rank));
    }

    [Fact]
    public async Task Lexical_reranker_prefers_coverage_and_phrases()
    {
        var hits = new[]
        {
            Hit(1, "The cat sat. Something about dogs and weather."),
            Hit(2, "Battery life of the phone is twelve hours of battery life.", title: "Phone battery"),
            Hit(3, "The phone has a screen."),
        };
        var ranked = await new LexicalReranker().RerankAsync("phone battery life", hits, 2, CancellationToken.None);
        Assert.Equal([2L, 3L], ranked.Select(h => h.Chunk.ChunkId));
        Assert.Equal("rerank", ranked[0].Retriever);
    }

    private static async Task<InMemoryChunkStore> Corpus(HashingEmbedder? embedder)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("paris.md"), "# Paris\n\nParis is the capital of France. The Eiffel Tower stands in Paris.");
        File.WriteAllText(dir.File("berlin.md"), "# Berlin\n\nBerlin is the capital of Germany. It has the Brandenburg Gate.");
        File.WriteAllText(dir.File("tea.md"), "# Tea\n\nGreen tea is brewed at eighty degrees for two minutes.");
        var store = new InMemoryChunkStore();
        await new IngestPipeline(store, embedder, new IngestOptions { BaseDirectory = dir.Path }).RunAsync(["."], null, CancellationToken.None);
        return store;
    }

    [Fact]
    public async Task Bm25_dense_and_hybrid_find_the_right_document()
    {
        var embedder = new HashingEmbedder();
        using var store = await Corpus(embedder);
        var retriever = new Retriever(store, embedder, new RetrieverOptions());
        foreach (var mode in new[] { SearchMode.Bm25, SearchMode.Dense, SearchMode.Hybrid })
        {
            var hits = await retriever.SearchAsync("capital of Germany Brandenburg", mode, 2, SearchFilter.None, CancellationToken.None);
            Assert.Equal("berlin.md", hits[0].Chunk.DocumentId);
            Assert.Equal(1, hits[0].Rank);
        }
        var mmr = new Retriever(store, embedder, new RetrieverOptions { MmrLambda = 0.7, Reranker = new LexicalReranker() });
        Assert.Equal("tea.md", (await mmr.SearchAsync("green tea brewing", SearchMode.Hybrid, 3, SearchFilter.None, CancellationToken.None))[0].Chunk.DocumentId);
    }

    [Fact]
    public async Task Dense_without_embedder_or_with_another_model_is_refused()
    {
        using var store = await Corpus(new HashingEmbedder("hash-64"));
        var none = new Retriever(store, null, new RetrieverOptions());
        var e1 = await Assert.ThrowsAsync<InvalidOperationException>(() => none.SearchAsync("paris", SearchMode.Dense, 3, SearchFilter.None, CancellationToken.None));
        Assert.Contains("embedding model", e1.Message);
        Assert.NotEmpty(await none.SearchAsync("paris", SearchMode.Hybrid, 3, SearchFilter.None, CancellationToken.None));
        var other = new Retriever(store, new HashingEmbedder("other-model"), new RetrieverOptions());
        var e2 = await Assert.ThrowsAsync<InvalidOperationException>(() => other.SearchAsync("paris", SearchMode.Dense, 3, SearchFilter.None, CancellationToken.None));
        Assert.Contains("hash-64", e2.Message);
        Assert.Contains("other-model", e2.Message);
    }
}
