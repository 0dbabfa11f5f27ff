using RagTune.Hosting.Stores;
using RagTune.Rag.Store;
using RagTune.TestKit;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>
/// The same documents in both stores, opened through the one store composition (CollectionStores): keyword search
/// must give the same hits with the same BM25 scores, exact vector search the same neighbours, HNSW nearly the same.
/// </summary>
public sealed class SqliteParityTests
{
    private const int Documents = 600;

    [Fact]
    public async Task Keyword_and_vector_search_give_the_sqlite_stores_top_hits()
    {
        using var dir = new TempDir();
        var writes = SciFactSample.Writes(SciFactSample.Documents(Documents), dims: 24);
        var info = new EmbeddingInfo("random", 24);
        var pgOptions = PostgresServer.Options();
        using var sqlite = CollectionStores.Catalog(new CollectionStoreOptions { DataDirectory = dir.Path }).Open("parity", create: true);
        using var pg = CollectionStores.Catalog(new CollectionStoreOptions { ConnectionString = pgOptions.ConnectionString, SchemaPrefix = pgOptions.SchemaPrefix }).Open("parity", create: true);
        foreach (var batch in writes.Chunk(200))
        {
            await sqlite.WriteBatchAsync(batch, info);
            await pg.WriteBatchAsync(batch, info);
        }
        using var pgExact = new PostgresCollections(pgOptions with { ExactVectorSearch = true }).Open("parity", create: false);

        var half = new SearchFilter(new Dictionary<string, string> { ["half"] = "1" });
        int compared = 0;
        foreach (var query in SciFactSample.Queries(60))
        {
            foreach (var filter in new[] { SearchFilter.None, half })
            {
                var expected = await sqlite.SearchKeywordAsync(query, 10, filter);
                var actual = await pg.SearchKeywordAsync(query, 10, filter);
                Assert.Equal(expected.Count, actual.Count);
                for (int i = 0; i < expected.Count; i++)
                {
                    // Equal scores may come in either order; the scores themselves must agree.
                    Assert.Equal(expected[i].Score, actual[i].Score, 1e-9 * Math.Max(1, Math.Abs(expected[i].Score)));
                    if (i + 1 < expected.Count && Math.Abs(expected[i].Score - expected[i + 1].Score) > 1e-9 && (i == 0 || Math.Abs(expected[i].Score - expected[i - 1].Score) > 1e-9))
                        Assert.Equal(expected[i].Chunk.DocumentId, actual[i].Chunk.DocumentId);
                }
                compared++;
            }
        }
        Assert.Equal(120, compared);

        var rng = new Random(99);
        int overlap = 0, queries = 30;
        for (int q = 0; q < queries; q++)
        {
            var v = StoreData.RandomVector(rng, 24);
            var expected = await sqlite.SearchVectorAsync(v, 10, SearchFilter.None);
            var exact = await pgExact.SearchVectorAsync(v, 10, SearchFilter.None);
            Assert.Equal(expected.Select(h => h.Chunk.DocumentId), exact.Select(h => h.Chunk.DocumentId));
            for (int i = 0; i < exact.Count; i++) Assert.Equal(expected[i].Score, exact[i].Score, 1e-5);
            var filtered = await pg.SearchVectorAsync(v, 10, half); // filtered searches are exact
            Assert.Equal((await sqlite.SearchVectorAsync(v, 10, half)).Select(h => h.Chunk.DocumentId), filtered.Select(h => h.Chunk.DocumentId));
            var approximate = await pg.SearchVectorAsync(v, 10, SearchFilter.None);
            overlap += approximate.Select(h => h.Chunk.DocumentId).Intersect(expected.Select(h => h.Chunk.DocumentId)).Count();
        }
        Assert.True(overlap >= queries * 10 * 0.95, $"HNSW recall@10 {overlap / (queries * 10.0):F3} against exact search; expected ≥ 0.95 at ef_search 100.");

        var stats = await pg.GetTermStatisticsAsync(["cells", "protein", "zzzz"]);
        var sqliteStats = await sqlite.GetTermStatisticsAsync(["cells", "protein", "zzzz"]);
        Assert.Equal(sqliteStats.Chunks, stats.Chunks);
        Assert.Equal(sqliteStats.ChunkFrequency, stats.ChunkFrequency);
    }
}
