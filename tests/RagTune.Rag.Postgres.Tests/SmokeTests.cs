using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task Smoke()
    {
        var catalog = PostgresServer.Catalog();
        using var store = catalog.Open("smoke", create: true);
        var info = new EmbeddingInfo("m", 4);
        await store.WriteBatchAsync([StoreData.Write("a", "apple pie. apple tart") with { Embeddings = [[1, 0, 0, 0], [0, 1, 0, 0]] }], info);
        Assert.Equal(2, (await store.SearchKeywordAsync("apple", 10, SearchFilter.None)).Count);
        Assert.Equal(2, (await store.SearchVectorAsync(new float[] { 1, 0, 0, 0 }, 10, SearchFilter.None)).Count);
        Assert.Equal(["smoke"], catalog.List());
    }
}
