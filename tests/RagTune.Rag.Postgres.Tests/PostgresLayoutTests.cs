using Npgsql;
using RagTune.Rag.Store;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>Where the PostgreSQL store's layout departs from a plain one for ingest speed, and older layouts it still serves.</summary>
public sealed class PostgresLayoutTests
{
    [Fact]
    public async Task The_hnsw_index_is_built_by_the_first_unfiltered_search_not_by_writes()
    {
        var catalog = PostgresServer.Catalog();
        using var store = (PostgresChunkStore)catalog.Open("idx", create: true);
        var info = new EmbeddingInfo("m", 3);
        await store.WriteBatchAsync([StoreData.Write("a", "one. two") with { Embeddings = [[1, 0, 0], [0, 1, 0]] }], info);
        await using var db = NpgsqlDataSource.Create(catalog.Options.ConnectionString);
        async Task<bool> Indexed()
        {
            await using var cmd = db.CreateCommand("SELECT to_regclass(@i) IS NOT NULL");
            cmd.Parameters.AddWithValue("i", PostgresSchema.Quote(store.Schema) + "." + PostgresSchema.VectorIndexName);
            return (bool)(await cmd.ExecuteScalarAsync())!;
        }
        Assert.False(await Indexed());
        var filter = new SearchFilter(new Dictionary<string, string> { ["ext"] = "txt" });
        Assert.Equal(2, (await store.SearchVectorAsync(new float[] { 1, 0, 0 }, 5, filter)).Count); // filtered: exact, no index needed
        Assert.False(await Indexed());

        Assert.Equal("a", (await store.SearchVectorAsync(new float[] { 1, 0, 0 }, 5, SearchFilter.None))[0].Chunk.DocumentId);
        Assert.True(await Indexed());
        // Written after the build: found through the index.
        await store.WriteBatchAsync([StoreData.Write("b", "three") with { Embeddings = [[0, 0, 1]] }], info);
        Assert.Equal("b", (await store.SearchVectorAsync(new float[] { 0, 0, 1 }, 1, SearchFilter.None))[0].Chunk.DocumentId);
    }

    [Fact]
    public async Task A_version_1_collection_whose_postings_cascade_is_written_and_deleted_as_before()
    {
        var catalog = PostgresServer.Catalog();
        string schema;
        using (var store = (PostgresChunkStore)catalog.Open("v1", create: true))
        {
            await store.WriteBatchAsync([StoreData.Write("a", "apple pie. apple tart"), StoreData.Write("b", "banana apple")], null);
            schema = PostgresSchema.Quote(store.Schema);
        }
        // Version 1's layout: the postings' foreign key cascading from chunks.
        await using var db = NpgsqlDataSource.Create(catalog.Options.ConnectionString);
        await using (var v1 = db.CreateCommand($"""
            ALTER TABLE {schema}.postings ADD FOREIGN KEY (chunk_id) REFERENCES {schema}.chunks(id) ON DELETE CASCADE;
            UPDATE {schema}.meta SET value = '1' WHERE key = 'schema_version'
            """))
            await v1.ExecuteNonQueryAsync();

        using var reopened = catalog.Open("v1", create: false);
        Assert.Equal(1, (await reopened.GetStatsAsync()).SchemaVersion);
        await reopened.WriteBatchAsync([StoreData.Write("a", "cherry only")], null);
        await reopened.DeleteDocumentsAsync(["b"]);
        var stats = await reopened.GetTermStatisticsAsync(["apple", "cherry"]);
        Assert.Equal((1, 0, 1), (stats.Chunks, stats.ChunkFrequency["apple"], stats.ChunkFrequency["cherry"]));
        await using var orphans = db.CreateCommand($"SELECT count(*) FROM {schema}.postings p WHERE NOT EXISTS (SELECT 1 FROM {schema}.chunks c WHERE c.id = p.chunk_id)");
        Assert.Equal(0L, await orphans.ExecuteScalarAsync());
    }
}
