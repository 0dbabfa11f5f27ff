using Npgsql;
using RagTune.Rag.Store;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>The PostgreSQL catalog's own behaviour: schemas, what it refuses, options and URLs. The contract tests are in PostgresBackend.cs.</summary>
public sealed class PostgresCollectionsTests
{
    [Fact]
    public void Locations_name_the_collection_schema_and_never_the_password()
    {
        var catalog = PostgresServer.Catalog();
        using (catalog.Open("docs", create: true)) { }
        Assert.Contains(catalog.Options.SchemaPrefix + "_c", catalog.LocationOf("docs"));
        Assert.DoesNotContain("postgres:postgres", catalog.Location);
        Assert.DoesNotContain("Password", catalog.Location, StringComparison.OrdinalIgnoreCase);
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
}
