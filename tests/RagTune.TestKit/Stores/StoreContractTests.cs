using System.Numerics.Tensors;
using RagTune.Rag.Store;

namespace RagTune.TestKit.Stores;

/// <summary>
/// What every collection store must do (the <see cref="IChunkStore"/> contract): writes that upsert documents by id
/// with their content hash, deletes, metadata filters, BM25 keyword search, exact or near-exact cosine search, the
/// refusal of mixed embedding models, user text and filters that cannot reach SQL, and (the other part of this class)
/// readers and writers at once. Each store's test project subclasses it with its <see cref="StoreBackend"/>.
/// </summary>
public abstract partial class StoreContractTests : StoreBackendTests
{
    private static readonly Dictionary<string, string> s_md = new() { ["ext"] = "md", ["team"] = "blue" };

    private protected StoreContractTests(StoreBackend backend)
        : base(backend)
    {
    }

    private ICollectionStore Open(bool referencePaths = false) => Backend.NewCatalog(referencePaths).Open("test", create: true);

    [Fact]
    public async Task Write_then_read_round_trips_documents_chunks_and_metadata()
    {
        using var store = Open();
        var w = StoreData.Write("a.md", "Alpha beta gamma. Delta epsilon zeta. Eta theta", "Greek", s_md);
        await store.WriteBatchAsync([w], null);

        var state = Assert.Single(await store.GetDocumentStatesAsync()).Value;
        Assert.Equal(("a.md", "/src/a.md", w.Document.ContentHash, 3), (state.Id, state.Source, state.ContentHash, state.ChunkCount));
        Assert.True(DateTimeOffset.UtcNow - state.UpdatedAt < TimeSpan.FromMinutes(1));
        Assert.True(state.UpdatedAt - DateTimeOffset.UtcNow < TimeSpan.FromMinutes(1));

        var hit = Assert.Single(await store.SearchKeywordAsync("epsilon", 10, SearchFilter.None));
        var chunk = (await store.GetChunkAsync(hit.Chunk.ChunkId))!;
        Assert.Equal(w.Chunks[1].Text, chunk.Chunk.Text);
        Assert.Equal((w.Chunks[1].Start, w.Chunks[1].End), (chunk.Chunk.Start, chunk.Chunk.End));
        Assert.Equal(w.Document.Text[chunk.Chunk.Start..chunk.Chunk.End], chunk.Chunk.Text);
        Assert.Equal(["Intro", "Part 1"], chunk.Chunk.HeadingPath);
        Assert.Equal(1, chunk.Chunk.Index);
        Assert.Equal(w.Chunks[1].TokenCount, chunk.Chunk.TokenCount);
        Assert.Equal(("a.md", "/src/a.md", "Greek"), (chunk.DocumentId, chunk.Source, chunk.Title));
        Assert.Equal(s_md, chunk.Metadata);
        Assert.Null(await store.GetChunkAsync(123456));
        Assert.Null(store.Embedding);
    }

    [Fact]
    public async Task A_rewrite_records_the_new_content_hash_and_an_unchanged_one_is_kept()
    {
        using var store = Open();
        await store.WriteBatchAsync([StoreData.Write("a", "first words"), StoreData.Write("b", "other words")], null);
        var before = await store.GetDocumentStatesAsync();
        var changed = StoreData.Write("a", "second words. and more");
        await store.WriteBatchAsync([changed], null);

        // What an incremental ingest compares: "a" now carries its new hash and chunk count, "b" is as it was.
        var after = await store.GetDocumentStatesAsync();
        Assert.Equal((changed.Document.ContentHash, 2), (after["a"].ContentHash, after["a"].ChunkCount));
        Assert.NotEqual(before["a"].ContentHash, after["a"].ContentHash);
        Assert.Equal(before["b"], after["b"]);
        var stats = await store.GetStatsAsync();
        Assert.Equal((2, 3), (stats.Documents, stats.Chunks));
    }

    [Fact]
    public async Task Term_statistics_count_chunks_as_the_keyword_index_analyses_words()
    {
        using var store = Open();
        await store.WriteBatchAsync([StoreData.Write("a", "Kagal trades wine. The flag is red. Trade routes cross"), StoreData.Write("b", "Mashath trades salt")], null);
        var stats = await store.GetTermStatisticsAsync(["trade", "kagal", "zorvath", "flag", "don't", "\"quoted\"", "*", ""]);
        Assert.Equal(4, stats.Chunks);
        Assert.Equal(3, stats.ChunkFrequency["trade"]); // the Porter stemmer joins "trades" and "Trade": three chunks, two documents
        Assert.Equal(1, stats.ChunkFrequency["kagal"]);
        Assert.Equal(1, stats.ChunkFrequency["flag"]);
        // A word the collection never uses, and words query syntax would misread, count nothing and throw nothing.
        Assert.Equal(0, stats.ChunkFrequency["zorvath"]);
        Assert.Equal(0, stats.ChunkFrequency["don't"]); // "don" and "t" never appear together
        Assert.Equal(0, stats.ChunkFrequency["\"quoted\""]);
        Assert.Equal(0, stats.ChunkFrequency["*"]);
        Assert.Equal(0, stats.ChunkFrequency[""]);
        Assert.True(stats.Idf("kagal") > stats.Idf("flag") - 1e-12 && stats.Idf("flag") > stats.Idf("trade"));
        Assert.Equal(Math.Log(1 + 3.5 / 1.5), stats.Idf("kagal"), 12);
        Assert.Equal(stats.Idf("kagal"), stats.Idf("zorvath"), 12); // never used weighs as used once

        Assert.Equal(1, new TermStatistics(0, new Dictionary<string, int>()).Idf("anything")); // empty: equal weights

        await store.DeleteDocumentsAsync(["a"]);
        var after = await store.GetTermStatisticsAsync(["trade", "kagal"]);
        Assert.Equal((1, 1, 0), (after.Chunks, after.ChunkFrequency["trade"], after.ChunkFrequency["kagal"]));
    }

    [Fact]
    public async Task All_chunks_come_in_document_then_chunk_order_without_deleted_ones()
    {
        using var store = Open();
        await store.WriteBatchAsync([StoreData.Write("b", "Bravo one. Bravo two. Bravo three"), StoreData.Write("a", "Alpha one. Alpha two"), StoreData.Write("c", "Charlie"), StoreData.Write("B", "upper")], null);
        await store.DeleteDocumentsAsync(["c"]);
        var all = await store.GetAllChunksAsync();
        var ids = all.Select(c => c.DocumentId).ToList();
        Assert.Equal(ids.Order(StringComparer.Ordinal), ids); // ordinal: "B" before "a"
        Assert.Equal(["B", "a", "b"], ids.Distinct());
        Assert.Equal((await store.GetStatsAsync()).Chunks, all.Count);
        Assert.All(all.GroupBy(c => c.DocumentId), g => Assert.Equal(Enumerable.Range(0, g.Count()), g.Select(c => c.Chunk.Index)));
        Assert.DoesNotContain(all, c => c.DocumentId == "c");
    }

    [Fact]
    public async Task Rewriting_a_document_replaces_its_chunks_and_keyword_index()
    {
        using var store = Open();
        await store.WriteBatchAsync([StoreData.Write("a", "old words here. more old words"), StoreData.Write("b", "unrelated text")], null);
        await store.WriteBatchAsync([StoreData.Write("a", "fresh content only")], null);

        Assert.Empty(await store.SearchKeywordAsync("old", 10, SearchFilter.None));
        Assert.Equal("a", Assert.Single(await store.SearchKeywordAsync("fresh", 10, SearchFilter.None)).Chunk.DocumentId);
        var stats = await store.GetStatsAsync();
        Assert.Equal((2, 2), (stats.Documents, stats.Chunks));
        Assert.Equal(0, (await store.GetTermStatisticsAsync(["old"])).ChunkFrequency["old"]); // no stale postings
        Backend.AssertConsistent(store);
    }

    [Fact]
    public async Task Keyword_search_ranks_by_bm25_uses_title_and_stems()
    {
        using var store = Open();
        await store.WriteBatchAsync([
            StoreData.Write("many", "the cat sat with another cat and a third cat"),
            StoreData.Write("one", "a cat among dogs and birds and fish and horses"),
            StoreData.Write("none", "nothing relevant is written in this one"),
            StoreData.Write("titled", "running quickly through fields", "Cats of the world"),
        ], null);

        var hits = await store.SearchKeywordAsync("cats", 10, SearchFilter.None);
        Assert.Equal(["many", "one", "titled"], hits.Select(h => h.Chunk.DocumentId).Order().ToArray());
        Assert.Equal("many", hits[0].Chunk.DocumentId);
        Assert.Equal([1, 2, 3], hits.Select(h => h.Rank));
        Assert.True(hits[0].Score > hits[1].Score && hits[1].Score > hits[2].Score);
        Assert.All(hits, h => Assert.Equal("bm25", h.Retriever));
        // Porter stemming: "run" finds "running".
        Assert.Equal("titled", Assert.Single(await store.SearchKeywordAsync("run", 10, SearchFilter.None)).Chunk.DocumentId);
        Assert.Single(await store.SearchKeywordAsync("cats", 1, SearchFilter.None));
    }

    [Theory]
    [InlineData("cat\" OR x:y NEAR(")]
    [InlineData("title: cat*")]
    [InlineData("AND OR NOT cat")]
    [InlineData("(cat) {dog} ^cat -cat +cat 'cat'")]
    [InlineData("cat'; DROP TABLE documents; --")]
    [InlineData("cat\\' OR 1=1 --")]
    [InlineData("cat $1 $$ :param @p ? %s")]
    public async Task Keyword_search_accepts_any_user_text(string query)
    {
        using var store = Open();
        await store.WriteBatchAsync([StoreData.Write("a", "a cat")], null);
        Assert.Equal("a", (await store.SearchKeywordAsync(query, 5, SearchFilter.None))[0].Chunk.DocumentId);
        Assert.Equal(1, (await store.GetStatsAsync()).Documents);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ?!. ")]
    public async Task Keyword_search_without_words_returns_nothing(string query)
    {
        using var store = Open();
        await store.WriteBatchAsync([StoreData.Write("a", "a cat")], null);
        Assert.Empty(await store.SearchKeywordAsync(query, 5, SearchFilter.None));
    }

    [Fact]
    public async Task Filters_apply_to_keyword_and_vector_search()
    {
        using var store = Open();
        var rng = new Random(7);
        var info = new EmbeddingInfo("m", 8);
        await store.WriteBatchAsync([
            StoreData.Write("a", "shared word", metadata: new() { ["ext"] = "md", ["team"] = "red" }, vectors: [StoreData.RandomVector(rng, 8)]),
            StoreData.Write("b", "shared word", metadata: new() { ["ext"] = "txt", ["team"] = "red" }, vectors: [StoreData.RandomVector(rng, 8)]),
            StoreData.Write("c", "shared word", metadata: new() { ["ext"] = "md", ["team"] = "blue" }, vectors: [StoreData.RandomVector(rng, 8)]),
        ], info);
        var md = new SearchFilter(new Dictionary<string, string> { ["ext"] = "md" });
        var mdRed = new SearchFilter(new Dictionary<string, string> { ["ext"] = "md", ["team"] = "red" });
        var missing = new SearchFilter(new Dictionary<string, string> { ["nope"] = "x" });

        Assert.Equal(["a", "c"], (await store.SearchKeywordAsync("shared", 10, md)).Select(h => h.Chunk.DocumentId).Order());
        Assert.Equal(["a"], (await store.SearchKeywordAsync("shared", 10, mdRed)).Select(h => h.Chunk.DocumentId));
        Assert.Empty(await store.SearchKeywordAsync("shared", 10, missing));
        var q = StoreData.RandomVector(rng, 8);
        Assert.Equal(["a", "c"], (await store.SearchVectorAsync(q, 10, md)).Select(h => h.Chunk.DocumentId).Order());
        Assert.Equal(["a"], (await store.SearchVectorAsync(q, 10, mdRed)).Select(h => h.Chunk.DocumentId));
        Assert.Empty(await store.SearchVectorAsync(q, 10, missing));
        Assert.Equal(3, (await store.SearchVectorAsync(q, 10, SearchFilter.None)).Count);
    }

    [Theory]
    [InlineData("ext' OR '1'='1", "md")]
    [InlineData("ext", "md' OR '1'='1")]
    [InlineData("ext\"}, \"team\": {\"a", "md")]
    [InlineData("ext", "\") OR true; DROP SCHEMA public CASCADE; --")]
    [InlineData("$.ext", "md")]
    [InlineData("größe+<", "Straße & Söhne")]   // keys and values System.Text.Json writes escaped (\u00F6, \u002B, \u003C)
    [InlineData("back\\slash", "md")]
    public async Task Filters_with_injection_attempts_match_nothing_and_change_nothing(string key, string value)
    {
        using var store = Open();
        var info = new EmbeddingInfo("m", 2);
        await store.WriteBatchAsync([StoreData.Write("a", "shared word", metadata: new() { ["ext"] = "md" }, vectors: [[1, 0]])], info);
        var filter = new SearchFilter(new Dictionary<string, string> { [key] = value });
        // Matching nothing or refusing the key (ArgumentException) are both safe; running it as SQL is not.
        try
        {
            Assert.Empty(await store.SearchKeywordAsync("shared", 10, filter));
            Assert.Empty(await store.SearchVectorAsync(new float[] { 1, 0 }, 10, filter));
        }
        catch (ArgumentException) when (!Backend.FindsAnyFilterKey)
        {
        }
        Assert.Equal(1, (await store.GetStatsAsync()).Documents);
        Assert.Single(await store.SearchKeywordAsync("shared", 10, SearchFilter.None));
        if (!Backend.FindsAnyFilterKey) return;
        // A key holding quotes is an ordinary key: a document that has it is found.
        await store.WriteBatchAsync([StoreData.Write("b", "shared word", metadata: new() { [key] = value }, vectors: [[0, 1]])], info);
        Assert.Equal("b", Assert.Single(await store.SearchKeywordAsync("shared", 10, filter)).Chunk.DocumentId);
        Assert.Equal("b", Assert.Single(await store.SearchVectorAsync(new float[] { 1, 0 }, 10, filter)).Chunk.DocumentId);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Vector_search_equals_brute_force_cosine(bool referencePaths)
    {
        using var store = Open(referencePaths);
        bool approximate = Backend.ApproximateVectorSearch && !referencePaths;
        const int dim = 48;
        var rng = new Random(42);
        var info = new EmbeddingInfo("test-embed", dim);
        var all = new List<(string Doc, int Index, float[] V)>();
        for (int b = 0; b < 3; b++)
        {
            var batch = new List<DocumentWrite>();
            for (int d = 0; d < 20; d++)
            {
                var w = StoreData.Write($"d{b}-{d}", "one. two. three. four");
                var vs = w.Chunks.Select(_ => StoreData.RandomVector(rng, dim)).ToList();
                for (int i = 0; i < vs.Count; i++) all.Add((w.Document.Id, i, vs[i]));
                batch.Add(w with { Embeddings = vs });
            }
            await store.WriteBatchAsync(batch, info);
        }
        Assert.Equal(info, store.Embedding);

        for (int t = 0; t < 5; t++)
        {
            var q = StoreData.RandomVector(rng, dim);
            var expected = all.Select(x => (x.Doc, x.Index, Score: TensorPrimitives.CosineSimilarity(x.V, q)))
                .OrderByDescending(x => x.Score).Take(15).ToList();
            var hits = await store.SearchVectorAsync(q.Select(x => x * 3f).ToArray(), 15, SearchFilter.None); // scale does not matter
            Assert.All(hits, h => Assert.Equal("dense", h.Retriever));
            if (!approximate)
            {
                Assert.Equal(expected.Select(e => (e.Doc, e.Index)), hits.Select(h => (h.Chunk.DocumentId, h.Chunk.Chunk.Index)));
                for (int i = 0; i < hits.Count; i++) Assert.Equal(expected[i].Score, hits[i].Score, 1e-5);
            }
            else
            {
                // HNSW is approximate; with ef_search 100 over 240 vectors it should find nearly all of the true top 15.
                var found = hits.Select(h => (h.Chunk.DocumentId, h.Chunk.Chunk.Index)).Intersect(expected.Select(e => (e.Doc, e.Index))).Count();
                Assert.True(found >= 13, $"HNSW found {found} of the exact top 15.");
                Assert.Equal(15, hits.Count);
                Assert.Equal(hits.Select(h => h.Score).OrderDescending(), hits.Select(h => h.Score));
            }
        }

        // A write after searches is seen (a cached matrix or an index is brought up to date): a new exact match comes first.
        var target = StoreData.RandomVector(rng, dim);
        await store.WriteBatchAsync([StoreData.Write("new", "only chunk") with { Embeddings = [target] }], info);
        Assert.Equal("new", (await store.SearchVectorAsync(target, 1, SearchFilter.None))[0].Chunk.DocumentId);
        await store.DeleteDocumentsAsync(["new"]);
        Assert.DoesNotContain(await store.SearchVectorAsync(target, 5, SearchFilter.None), h => h.Chunk.DocumentId == "new");
    }

    [Fact]
    public async Task Embedding_mismatches_are_refused()
    {
        using var store = Open();
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.SearchVectorAsync(new float[4], 3, SearchFilter.None));
        await store.WriteBatchAsync([StoreData.Write("a", "x") with { Embeddings = [[1, 0, 0, 0]] }], new EmbeddingInfo("m1", 4));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            store.WriteBatchAsync([StoreData.Write("b", "y") with { Embeddings = [[1, 0, 0, 0]] }], new EmbeddingInfo("m2", 4)));
        Assert.Contains("m1", e.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => store.WriteBatchAsync([StoreData.Write("b", "y") with { Embeddings = [new float[5]] }], new EmbeddingInfo("m1", 4)));
        await Assert.ThrowsAsync<ArgumentException>(() => store.SearchVectorAsync(new float[5], 3, SearchFilter.None));
        Assert.Equal(1, (await store.GetStatsAsync()).Documents);
    }

    [Fact]
    public async Task Delete_removes_documents_chunks_vectors_and_index_rows()
    {
        using var store = Open();
        var info = new EmbeddingInfo("m", 4);
        await store.WriteBatchAsync([
            StoreData.Write("a", "apple pie. apple tart") with { Embeddings = [[1, 0, 0, 0], [0, 1, 0, 0]] },
            StoreData.Write("b", "banana bread") with { Embeddings = [[0, 0, 1, 0]] },
        ], info);
        await store.DeleteDocumentsAsync(["a", "missing"]);

        Assert.Empty(await store.SearchKeywordAsync("apple", 10, SearchFilter.None));
        Assert.Equal(["b"], (await store.GetDocumentStatesAsync()).Keys);
        var stats = await store.GetStatsAsync();
        Assert.Equal(new CollectionStats("test", 1, 1, 1, stats.FileBytes, info, Backend.SchemaVersion), stats);
        Assert.True(stats.FileBytes > 0);
        Assert.Equal("b", Assert.Single(await store.SearchVectorAsync(new float[] { 1, 0, 0, 0 }, 10, SearchFilter.None)).Chunk.DocumentId);
        Assert.Equal(0, (await store.GetTermStatisticsAsync(["apple"])).ChunkFrequency["apple"]);
        Backend.AssertConsistent(store);
    }
}
