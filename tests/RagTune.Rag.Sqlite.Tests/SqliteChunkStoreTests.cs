using System.Numerics.Tensors;
using Microsoft.Data.Sqlite;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Rag.Sqlite.Tests;

public sealed class SqliteChunkStoreTests
{
    private static readonly Dictionary<string, string> s_md = new() { ["ext"] = "md", ["team"] = "blue" };

    [Fact]
    public async Task Write_then_read_round_trips_documents_chunks_and_metadata()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        var w = StoreData.Write("a.md", "Alpha beta gamma. Delta epsilon zeta. Eta theta", "Greek", s_md);
        await store.WriteBatchAsync([w], null);

        var states = await store.GetDocumentStatesAsync();
        var state = Assert.Single(states).Value;
        Assert.Equal(("a.md", "/src/a.md", w.Document.ContentHash, 3), (state.Id, state.Source, state.ContentHash, state.ChunkCount));
        Assert.True(DateTimeOffset.UtcNow - state.UpdatedAt < TimeSpan.FromMinutes(1));

        var hit = Assert.Single(await store.SearchKeywordAsync("epsilon", 10, SearchFilter.None));
        var chunk = (await store.GetChunkAsync(hit.Chunk.ChunkId))!;
        Assert.Equal(w.Chunks[1].Text, chunk.Chunk.Text);
        Assert.Equal(w.Chunks[1].Start, chunk.Chunk.Start);
        Assert.Equal(w.Chunks[1].End, chunk.Chunk.End);
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
    public async Task Term_statistics_count_chunks_as_the_keyword_index_analyses_words()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        await store.WriteBatchAsync([StoreData.Write("a", "Kagal trades wine. The flag is red. Trade routes cross"), StoreData.Write("b", "Mashath trades salt")], null);
        var stats = await store.GetTermStatisticsAsync(["trade", "kagal", "zorvath", "flag", "don't", "\"quoted\"", "*", ""]);
        Assert.Equal(4, stats.Chunks);
        // FTS5's stemmer joins "trades" and "Trade": three chunks, two documents.
        Assert.Equal(3, stats.ChunkFrequency["trade"]);
        Assert.Equal(1, stats.ChunkFrequency["kagal"]);
        Assert.Equal(1, stats.ChunkFrequency["flag"]);
        // A word the collection never uses, and words FTS5 syntax would misread, count nothing and throw nothing.
        Assert.Equal(0, stats.ChunkFrequency["zorvath"]);
        Assert.Equal(0, stats.ChunkFrequency["don't"]);
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
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        await store.WriteBatchAsync([StoreData.Write("b", "Bravo one. Bravo two. Bravo three"), StoreData.Write("a", "Alpha one. Alpha two"), StoreData.Write("c", "Charlie")], null);
        await store.DeleteDocumentsAsync(["c"]);
        var all = await store.GetAllChunksAsync();
        var ids = all.Select(c => c.DocumentId).ToList();
        Assert.Equal(ids.Order(StringComparer.Ordinal), ids);
        Assert.Equal(["a", "b"], ids.Distinct());
        Assert.Equal((await store.GetStatsAsync()).Chunks, all.Count);
        Assert.All(all.GroupBy(c => c.DocumentId), g => Assert.Equal(Enumerable.Range(0, g.Count()), g.Select(c => c.Chunk.Index)));
        Assert.DoesNotContain(all, c => c.DocumentId == "c");
    }

    [Fact]
    public async Task Rewriting_a_document_replaces_its_chunks_and_keyword_index()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        await store.WriteBatchAsync([StoreData.Write("a", "old words here. more old words"), StoreData.Write("b", "unrelated text")], null);
        await store.WriteBatchAsync([StoreData.Write("a", "fresh content only")], null);

        Assert.Empty(await store.SearchKeywordAsync("old", 10, SearchFilter.None));
        Assert.Equal("a", Assert.Single(await store.SearchKeywordAsync("fresh", 10, SearchFilter.None)).Chunk.DocumentId);
        var stats = await store.GetStatsAsync();
        Assert.Equal((2, 2), (stats.Documents, stats.Chunks));
        AssertFtsConsistent(store.FilePath);
    }

    [Fact]
    public async Task Keyword_search_ranks_by_bm25_uses_title_and_stems()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
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
    public async Task Keyword_search_accepts_any_user_text(string query)
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        await store.WriteBatchAsync([StoreData.Write("a", "a cat")], null);
        Assert.Equal("a", (await store.SearchKeywordAsync(query, 5, SearchFilter.None))[0].Chunk.DocumentId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ?!. ")]
    public async Task Keyword_search_without_words_returns_nothing(string query)
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        await store.WriteBatchAsync([StoreData.Write("a", "a cat")], null);
        Assert.Empty(await store.SearchKeywordAsync(query, 5, SearchFilter.None));
    }

    [Fact]
    public void Fts_query_quotes_and_ors_distinct_words()
    {
        Assert.Equal("\"what\" OR \"c\" OR \"x2\" OR \"café\"", FtsQuery.Build("What is C#? \"x2\" is café")); // stopword "is" dropped
        Assert.Equal("\"the\" OR \"of\"", FtsQuery.Build("The of the"));                                      // unless all are stopwords
        Assert.Null(FtsQuery.Build("--- ***"));
    }

    [Fact]
    public async Task Filters_apply_to_keyword_and_vector_search()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
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

    [Fact]
    public async Task Vector_search_equals_brute_force_cosine()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
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
            Assert.Equal(expected.Select(e => (e.Doc, e.Index)), hits.Select(h => (h.Chunk.DocumentId, h.Chunk.Chunk.Index)));
            for (int i = 0; i < hits.Count; i++) Assert.Equal(expected[i].Score, hits[i].Score, 1e-5);
            Assert.All(hits, h => Assert.Equal("dense", h.Retriever));
        }

        // The cached matrix is invalidated by a write: a new exact match comes first.
        var target = StoreData.RandomVector(rng, dim);
        await store.WriteBatchAsync([StoreData.Write("new", "only chunk") with { Embeddings = [target] }], info);
        Assert.Equal("new", (await store.SearchVectorAsync(target, 1, SearchFilter.None))[0].Chunk.DocumentId);
        await store.DeleteDocumentsAsync(["new"]);
        Assert.DoesNotContain((await store.SearchVectorAsync(target, 5, SearchFilter.None)), h => h.Chunk.DocumentId == "new");
    }

    [Fact]
    public async Task Embedding_mismatches_are_refused()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.SearchVectorAsync(new float[4], 3, SearchFilter.None));
        await store.WriteBatchAsync([StoreData.Write("a", "x") with { Embeddings = [new float[4]] }], new EmbeddingInfo("m1", 4));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            store.WriteBatchAsync([StoreData.Write("b", "y") with { Embeddings = [new float[4]] }], new EmbeddingInfo("m2", 4)));
        Assert.Contains("m1", e.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => store.WriteBatchAsync([StoreData.Write("b", "y") with { Embeddings = [new float[5]] }], new EmbeddingInfo("m1", 4)));
        await Assert.ThrowsAsync<ArgumentException>(() => store.SearchVectorAsync(new float[5], 3, SearchFilter.None));
        Assert.Equal(1, (await store.GetStatsAsync()).Documents);
    }

    [Fact]
    public async Task Delete_removes_documents_chunks_vectors_and_index_rows()
    {
        using var dir = new TempDir();
        using var store = StoreData.Open(dir);
        var info = new EmbeddingInfo("m", 4);
        await store.WriteBatchAsync([
            StoreData.Write("a", "apple pie. apple tart") with { Embeddings = [[1, 0, 0, 0], [0, 1, 0, 0]] },
            StoreData.Write("b", "banana bread") with { Embeddings = [[0, 0, 1, 0]] },
        ], info);
        await store.DeleteDocumentsAsync(["a", "missing"]);

        Assert.Empty(await store.SearchKeywordAsync("apple", 10, SearchFilter.None));
        Assert.Equal(["b"], (await store.GetDocumentStatesAsync()).Keys);
        var stats = await store.GetStatsAsync();
        Assert.Equal(new CollectionStats("test", 1, 1, 1, stats.FileBytes, info, SqliteSchema.Version), stats);
        Assert.True(stats.FileBytes > 0);
        Assert.Equal("b", Assert.Single(await store.SearchVectorAsync(new float[] { 1, 0, 0, 0 }, 10, SearchFilter.None)).Chunk.DocumentId);
        AssertFtsConsistent(store.FilePath);
    }

    [Fact]
    public async Task Readers_see_whole_batches_while_a_writer_runs()
    {
        using var dir = new TempDir();
        using var writer = StoreData.Open(dir);
        using var reader = StoreData.Open(dir);
        const int docsPerBatch = 25;
        var writing = Task.Run(async () =>
        {
            for (int b = 0; b < 30; b++)
                await writer.WriteBatchAsync(Enumerable.Range(0, docsPerBatch)
                    .Select(d => StoreData.Write($"b{b}-{d}", $"common words. batch {b}. more text here")).ToList(), null);
        });
        int observations = 0;
        while (!writing.IsCompleted || observations == 0)
        {
            var stats = await reader.GetStatsAsync();
            Assert.Equal(0, stats.Documents % docsPerBatch);
            Assert.Equal(stats.Documents * 3, stats.Chunks);
            var hits = await reader.SearchKeywordAsync("common", 1000, SearchFilter.None);
            Assert.Equal(0, hits.Count % docsPerBatch);
            observations++;
        }
        await writing;
        Assert.Equal(30 * docsPerBatch, (await reader.GetStatsAsync()).Documents);
    }

    [Fact]
    public async Task A_foreign_sqlite_file_is_refused_and_left_untouched()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        var path = options.CollectionPath("other");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        SqliteChunkStore.EnsureSqlite();
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('mine');";
            cmd.ExecuteNonQuery();
        }
        var before = File.ReadAllBytes(path);
        var e = Assert.Throws<CollectionFormatException>(() => SqliteChunkStore.Open("other", options));
        Assert.Contains(path, e.Message);
        Assert.Contains("not a RagTune collection", e.Message);
        Assert.Throws<CollectionFormatException>(() => new SqliteCollections(options).Delete("other"));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + "-wal"));
    }

    [Fact]
    public void A_file_that_is_not_sqlite_is_refused_and_left_untouched()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        var path = options.CollectionPath("junk");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var junk = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray();
        File.WriteAllBytes(path, junk);
        var e = Assert.Throws<CollectionFormatException>(() => SqliteChunkStore.Open("junk", options));
        Assert.Contains(path, e.Message);
        Assert.Equal(junk, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task A_newer_schema_version_is_refused_and_left_untouched()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        string path;
        using (var store = SqliteChunkStore.Open("future", options))
        {
            await store.WriteBatchAsync([StoreData.Write("a", "x")], null);
            path = store.FilePath;
        }
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE meta SET value = '99' WHERE key = 'schema_version'; PRAGMA wal_checkpoint(TRUNCATE);";
            cmd.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();
        var before = File.ReadAllBytes(path);
        var e = Assert.Throws<CollectionFormatException>(() => SqliteChunkStore.Open("future", options));
        Assert.Contains("schema version 99", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task Collections_list_stats_and_delete_files()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        var collections = new SqliteCollections(options);
        Assert.Empty(collections.List());
        foreach (var name in new[] { "zeta", "alpha-1" })
        {
            using var store = SqliteChunkStore.Open(name, options);
            await store.WriteBatchAsync([StoreData.Write("a", "one. two")], null);
        }
        Assert.Equal(["alpha-1", "zeta"], collections.List());
        var stats = await collections.StatsAsync("zeta");
        Assert.Equal(("zeta", 1, 2, 0), (stats.Name, stats.Documents, stats.Chunks, stats.EmbeddedChunks));
        Assert.Null(stats.Embedding);

        Assert.True(collections.Delete("zeta"));
        Assert.False(collections.Delete("zeta"));
        Assert.Equal(["alpha-1"], collections.List());
        Assert.Empty(Directory.EnumerateFiles(options.CollectionsDirectory, "zeta*"));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => collections.StatsAsync("zeta"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("../escape")]
    [InlineData("a b")]
    [InlineData("x.db")]
    public void Invalid_collection_names_are_refused(string name)
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ArgumentException>(() => SqliteChunkStore.Open(name, new SqliteStoreOptions { DataDirectory = dir.Path }));
        Assert.Contains("letters, digits", e.Message);
    }

    [Fact]
    public void Data_directory_comes_from_option_then_environment_then_home()
    {
        Assert.Equal(Path.GetFullPath("/tmp/x"), SqliteStoreOptions.ResolveDataDirectory("/tmp/x"));
        var fromEnvOrHome = SqliteStoreOptions.ResolveDataDirectory(null);
        var env = Environment.GetEnvironmentVariable(SqliteStoreOptions.DataDirEnvironmentVariable);
        Assert.Equal(string.IsNullOrEmpty(env)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ragtune")
            : Path.GetFullPath(env), fromEnvOrHome);
        Assert.Equal(Path.Combine("/d", "collections", "n.db"), new SqliteStoreOptions { DataDirectory = "/d" }.CollectionPath("n"));
    }

    /// <summary>SQLite's own checks: the file, and the FTS index against its content table.</summary>
    internal static void AssertFtsConsistent(string path)
    {
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", cmd.ExecuteScalar());
        cmd.CommandText = "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')";
        cmd.ExecuteNonQuery(); // throws SQLITE_CORRUPT_VTAB when the index disagrees with the chunks table
        cmd.CommandText = "SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)";
        Assert.Equal(0L, cmd.ExecuteScalar());
    }
}

public sealed class ConcurrentCreateTests
{
    [Fact]
    public async Task Stores_opened_at_once_on_a_new_collection_share_one_schema()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        var stores = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => SqliteChunkStore.Open("race", options))));
        for (int i = 0; i < stores.Length; i++) await stores[i].WriteBatchAsync([StoreData.Write("d" + i, "text " + i)], null);
        Assert.Equal(6, (await stores[0].GetStatsAsync()).Documents);
        foreach (var s in stores) s.Dispose();
    }
}
