using RagTune.Rag.Store;

namespace RagTune.TestKit.Stores;

// Readers during writes, writers that overlap, and stores opened at once on a new collection. A store's own crash
// tests (a killed process, a cut connection) stay in its project.
public abstract partial class StoreContractTests
{
    [Fact]
    public async Task Readers_see_whole_batches_while_a_writer_runs()
    {
        var catalog = Backend.NewCatalog();
        using var writer = catalog.Open("c", create: true);
        using var reader = catalog.Open("c", create: false);
        const int docsPerBatch = 25;
        int batches = Backend.ConcurrentWriterBatches;
        var writing = Task.Run(async () =>
        {
            for (int b = 0; b < batches; b++)
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
        Assert.Equal(batches * docsPerBatch, (await reader.GetStatsAsync()).Documents);
    }

    [Fact]
    public async Task Two_ingests_into_one_collection_both_land_whole()
    {
        var first = Backend.NewCatalog();
        var info = new EmbeddingInfo("m", 4);
        // Two catalogs, as two processes would have; both start before the collection has a model recorded.
        async Task Ingest(ICollectionCatalog catalog, string who)
        {
            using var store = catalog.Open("shared", create: true);
            var rng = new Random(who.GetHashCode(StringComparison.Ordinal));
            for (int b = 0; b < 6; b++)
                await store.WriteBatchAsync(Enumerable.Range(0, 10)
                    .Select(d => StoreData.Write($"{who}-{b}-{d}", $"{who} text. shared words", vectors: [StoreData.RandomVector(rng, 4), StoreData.RandomVector(rng, 4)])).ToList(), info);
        }
        var second = Backend.Reopen(first);
        await Task.WhenAll(Task.Run(() => Ingest(first, "left")), Task.Run(() => Ingest(second, "right")));

        using var check = Backend.Reopen(first).Open("shared", create: false);
        var stats = await check.GetStatsAsync();
        Assert.Equal((120, 240, 240), (stats.Documents, stats.Chunks, stats.EmbeddedChunks));
        Assert.Equal(info, stats.Embedding);
        // Both chunks of each document match its writer's name (in the text or in the title, the document id).
        Assert.Equal(60, (await check.SearchKeywordAsync("left", 1000, SearchFilter.None)).Select(h => h.Chunk.DocumentId).Distinct().Count());
        Assert.Equal(60, (await check.SearchKeywordAsync("right", 1000, SearchFilter.None)).Select(h => h.Chunk.DocumentId).Distinct().Count());
        Assert.Equal(120, (await check.GetTermStatisticsAsync(["shared"])).ChunkFrequency["shared"]); // the second chunk of each
    }

    [Fact]
    public async Task Stores_opened_at_once_on_a_new_collection_share_one_collection()
    {
        var catalog = Backend.NewCatalog();
        // Each from its own catalog, as processes starting together would open it.
        var stores = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => Backend.Reopen(catalog).Open("race", create: true))));
        try
        {
            for (int i = 0; i < stores.Length; i++) await stores[i].WriteBatchAsync([StoreData.Write("d" + i, "text " + i)], null);
            foreach (var s in stores) Assert.Equal(6, (await s.GetStatsAsync()).Documents);
            Assert.Equal(["race"], catalog.List());
        }
        finally
        {
            foreach (var s in stores) s.Dispose();
        }
    }
}
