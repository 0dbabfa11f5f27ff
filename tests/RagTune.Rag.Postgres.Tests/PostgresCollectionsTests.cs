using Npgsql;
using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres.Tests;

public sealed class PostgresCollectionsTests
{
    [Fact]
    public async Task Collections_list_stats_recreate_and_delete()
    {
        var catalog = PostgresServer.Catalog();
        Assert.Empty(catalog.List());
        Assert.Throws<CollectionNotFoundException>(() => catalog.Open("docs", create: false));
        using (var store = catalog.Open("docs", create: true))
            await store.WriteBatchAsync([StoreData.Write("a", "one. two")], null);
        using (catalog.Open("b-2", create: true)) { }
        Assert.Equal(["b-2", "docs"], catalog.List());
        Assert.True(catalog.Exists("docs"));
        Assert.Contains(catalog.Options.SchemaPrefix + "_c", catalog.LocationOf("docs"));
        Assert.DoesNotContain("postgres:postgres", catalog.Location); // no password in messages

        var stats = await catalog.StatsAsync("docs");
        Assert.Equal(("docs", 1, 2, 0, PostgresSchema.Version), (stats.Name, stats.Documents, stats.Chunks, stats.EmbeddedChunks, stats.SchemaVersion));
        Assert.Null(stats.Embedding);

        // A second catalog on the same prefix (another process) sees the same collections.
        var again = new PostgresCollections(catalog.Options);
        Assert.Equal(["b-2", "docs"], again.List());

        using (var fresh = catalog.Recreate("docs")) Assert.Equal(0, (await fresh.GetStatsAsync()).Documents);
        Assert.True(catalog.Delete("docs"));
        Assert.False(catalog.Delete("docs"));
        Assert.Equal(["b-2"], catalog.List());
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => catalog.StatsAsync("docs"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("x\"; DROP SCHEMA public CASCADE; --")]
    [InlineData("x'); DELETE FROM collections; --")]
    [InlineData("../etc")]
    [InlineData("ünïcode")]
    public void Invalid_collection_names_are_refused_before_any_sql(string name)
    {
        var catalog = PostgresServer.Catalog();
        Assert.Throws<ArgumentException>(() => catalog.Open(name, create: true));
        Assert.Throws<ArgumentException>(() => catalog.Delete(name));
        Assert.Throws<ArgumentException>(() => catalog.Exists(name));
        Assert.Empty(catalog.List());
    }

    [Fact]
    public void A_long_name_is_a_valid_collection_though_longer_than_an_identifier()
    {
        var catalog = PostgresServer.Catalog();
        var name = new string('n', CollectionNames.MaxLength); // 100 characters; PostgreSQL identifiers stop at 63 bytes
        using (catalog.Open(name, create: true)) { }
        Assert.Equal([name], catalog.List());
    }

    [Fact]
    public async Task A_foreign_schema_under_the_prefix_is_refused_and_left_untouched()
    {
        var options = PostgresServer.Options();
        await using var db = NpgsqlDataSource.Create(options.ConnectionString);
        await using (var cmd = db.CreateCommand($"CREATE SCHEMA \"{options.SchemaPrefix}\"; CREATE TABLE \"{options.SchemaPrefix}\".notes(x text); INSERT INTO \"{options.SchemaPrefix}\".notes VALUES ('mine')"))
            await cmd.ExecuteNonQueryAsync();
        var e = Assert.Throws<CollectionFormatException>(() => new PostgresCollections(options));
        Assert.Contains("SchemaPrefix", e.Message);
        await using var check = db.CreateCommand($"SELECT x FROM \"{options.SchemaPrefix}\".notes");
        Assert.Equal("mine", await check.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_collection_schema_that_is_not_ours_or_newer_is_refused_and_left_untouched()
    {
        var catalog = PostgresServer.Catalog();
        using (var store = catalog.Open("docs", create: true)) await store.WriteBatchAsync([StoreData.Write("a", "kept")], null);
        var schema = "\"" + catalog.Options.SchemaPrefix + "_c1\"";
        await using var db = NpgsqlDataSource.Create(catalog.Options.ConnectionString);

        await using (var newer = db.CreateCommand($"UPDATE {schema}.meta SET value = '99' WHERE key = 'schema_version'")) await newer.ExecuteNonQueryAsync();
        var e = Assert.Throws<CollectionFormatException>(() => catalog.Open("docs", create: false));
        Assert.Contains("newer", e.Message);
        Assert.Throws<CollectionFormatException>(() => catalog.Delete("docs"));

        await using (var foreign = db.CreateCommand($"UPDATE {schema}.meta SET value = 'somebody-else' WHERE key = 'format'")) await foreign.ExecuteNonQueryAsync();
        e = Assert.Throws<CollectionFormatException>(() => catalog.Open("docs", create: true));
        Assert.Contains("not a RagTune collection", e.Message);
        Assert.Throws<CollectionFormatException>(() => catalog.Delete("docs"));
        await using var count = db.CreateCommand($"SELECT count(*) FROM {schema}.documents");
        Assert.Equal(1L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public void Options_are_validated_with_the_setting_named()
    {
        var ok = PostgresServer.Options();
        Assert.Contains("SchemaPrefix", Assert.Throws<ArgumentException>(() => (ok with { SchemaPrefix = "x\"; drop" }).Validate()).Message);
        Assert.Contains("HnswM", Assert.Throws<ArgumentException>(() => (ok with { HnswM = 1 }).Validate()).Message);
        Assert.Contains("HnswEfConstruction", Assert.Throws<ArgumentException>(() => (ok with { HnswEfConstruction = 10 }).Validate()).Message);
        Assert.Contains("HnswEfSearch", Assert.Throws<ArgumentException>(() => (ok with { HnswEfSearch = 0 }).Validate()).Message);
        Assert.Contains("ConnectionString", Assert.Throws<ArgumentException>(() => (ok with { ConnectionString = " " }).Validate()).Message);
        Assert.Contains("TitleWeight", Assert.Throws<ArgumentException>(() => (ok with { TitleWeight = double.NaN }).Validate()).Message);
    }

    [Fact]
    public void Postgres_urls_become_npgsql_connection_strings()
    {
        var cs = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize("postgres://rag%40user:p%3Ass@db.example:6543/rag?sslmode=disable"));
        Assert.Equal(("db.example", 6543, "rag@user", "p:ss", "rag", SslMode.Disable), (cs.Host, cs.Port, cs.Username, cs.Password, cs.Database, cs.SslMode));
        Assert.Equal("Host=h;Database=d", PostgresConnectionString.Normalize("Host=h;Database=d"));
        Assert.Equal("postgres://db.example:6543/rag", PostgresConnectionString.Describe("postgres://u:secret@db.example:6543/rag"));
    }

    [Fact]
    public async Task Stores_opened_at_once_on_a_new_collection_share_one_schema()
    {
        var options = PostgresServer.Options();
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => new PostgresCollections(options).Open("same", create: true))));
        try
        {
            Assert.Single(stores.Select(s => ((PostgresChunkStore)s).Schema).Distinct());
            Assert.Equal(["same"], new PostgresCollections(options).List());
        }
        finally
        {
            foreach (var s in stores) s.Dispose();
        }
    }
}
