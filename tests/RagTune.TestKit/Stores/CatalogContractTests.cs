using RagTune.Rag.Store;

namespace RagTune.TestKit.Stores;

/// <summary>
/// What every store's catalog must do (<see cref="ICollectionCatalog"/>): create, open, list, stats, recreate and
/// delete collections by name, and refuse names that could reach a file path or SQL. Each store's test project
/// subclasses it with its <see cref="StoreBackend"/>; how a store refuses what is not its own stays there.
/// </summary>
public abstract class CatalogContractTests : StoreBackendTests
{
    private protected CatalogContractTests(StoreBackend backend)
        : base(backend)
    {
    }

    [Fact]
    public async Task Collections_list_stats_recreate_and_delete()
    {
        var catalog = Backend.NewCatalog();
        Assert.Empty(catalog.List());
        Assert.False(catalog.Exists("docs"));
        Assert.Throws<CollectionNotFoundException>(() => catalog.Open("docs", create: false));
        foreach (var name in new[] { "docs", "alpha-1" })
        {
            using var store = catalog.Open(name, create: true);
            await store.WriteBatchAsync([StoreData.Write("a", "one. two")], null);
        }
        using (catalog.Open("b_2", create: true)) { }
        Assert.Equal(["alpha-1", "b_2", "docs"], catalog.List()); // ordinal
        Assert.True(catalog.Exists("docs"));

        var stats = await catalog.StatsAsync("docs");
        Assert.Equal(("docs", 1, 2, 0, Backend.SchemaVersion), (stats.Name, stats.Documents, stats.Chunks, stats.EmbeddedChunks, stats.SchemaVersion));
        Assert.Null(stats.Embedding);

        // A second catalog on the same collections (another process) sees the same ones.
        Assert.Equal(["alpha-1", "b_2", "docs"], Backend.Reopen(catalog).List());

        using (var fresh = catalog.Recreate("docs")) Assert.Equal(0, (await fresh.GetStatsAsync()).Documents);
        Assert.True(catalog.Delete("docs"));
        Assert.False(catalog.Delete("docs"));
        Assert.False(catalog.Exists("docs"));
        Assert.Equal(["alpha-1", "b_2"], catalog.List());
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => catalog.StatsAsync("docs"));
        Assert.Equal(1, (await catalog.StatsAsync("alpha-1")).Documents); // the others are untouched
    }

    [Theory]
    [InlineData("")]
    [InlineData("../escape")]
    [InlineData("a b")]
    [InlineData("x.db")]
    [InlineData("x\"; DROP SCHEMA public CASCADE; --")]
    [InlineData("x'); DELETE FROM collections; --")]
    [InlineData("ünïcode")]
    public void Invalid_collection_names_are_refused_before_any_file_or_sql(string name)
    {
        var catalog = Backend.NewCatalog();
        var e = Assert.Throws<ArgumentException>(() => catalog.Open(name, create: true));
        Assert.Contains("letters, digits", e.Message);
        Assert.Throws<ArgumentException>(() => catalog.Delete(name));
        Assert.Throws<ArgumentException>(() => catalog.Exists(name));
        Assert.Empty(catalog.List());
    }

    [Fact]
    public void A_name_of_the_longest_valid_length_is_a_collection()
    {
        var catalog = Backend.NewCatalog();
        var name = new string('n', CollectionNames.MaxLength); // 100 characters; PostgreSQL identifiers stop at 63 bytes
        using (catalog.Open(name, create: true)) { }
        Assert.Equal([name], catalog.List());
        Assert.True(catalog.Delete(name));
    }
}
