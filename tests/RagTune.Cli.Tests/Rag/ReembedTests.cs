using Microsoft.Extensions.AI;
using RagTune.Hosting.Evaluation;
using RagTune.Cli.Commands.Rag;
using RagTune.Engine.Encoders;
using RagTune.Hosting.Stores;
using RagTune.Models.Embeddings;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Cli.Tests.Rag;

/// <summary>Re-embedding a real SQLite collection with real (random-weight) local encoders.</summary>
public sealed class ReembedTests
{
    private const int Docs = 24;

    private static string Model(TempDir dir, string name, ulong seed, int hidden)
    {
        var folder = Path.Combine(dir.Path, name);
        RandomEmbeddingModelWriter.Write(folder, new BertConfig(400, hidden, 1, 4, 64, 64, 2, 1e-12f), seed, f16: false);
        return folder;
    }

    private static IEnumerable<(string Id, string Title, string Text)> Documents() =>
        Enumerable.Range(0, Docs).Select(i => ($"d{i}", $"w{110 + i}", $"w{200 + i} w{250 + i} w{300 + i % 7}"));

    // Cancels the run synchronously once it reports this many chunks, standing in for a process killed mid-way.
    private sealed class CancelAfter(CancellationTokenSource cts, int chunks) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value)
        {
            if (value.Done >= chunks) cts.Cancel();
        }
    }

    private static async Task<IReadOnlyList<SearchHit>> DenseAsync(IChunkStore store, LocalEmbeddingGenerator model, string query) =>
        await new Retriever(store, model, new RetrieverOptions()).SearchAsync(query, SearchMode.Dense, 3, SearchFilter.None, CancellationToken.None);

    [Fact]
    public async Task An_interrupted_reembed_keeps_the_old_model_serving_and_a_rerun_resumes_and_switches_atomically()
    {
        using var dir = new TempDir();
        using var oldModel = LocalEmbeddingGenerator.Load(Model(dir, "old", 1, 32), new LocalEmbeddingOptions { Threads = 1 });
        using var newModel = LocalEmbeddingGenerator.Load(Model(dir, "new", 2, 48), new LocalEmbeddingOptions { Threads = 1 });
        using var store = CollectionStores.Catalog(Path.Combine(dir.Path, "data")).Open("kb", create: true);
        await WholeDocuments.WriteAsync(store, Documents(), oldModel, CancellationToken.None, batchSize: 10);
        Assert.Equal(oldModel.ModelId, store.Embedding!.ModelId);

        using (var cts = new CancellationTokenSource())
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Reembedder.RunAsync(store, newModel, batchSize: 5, new CancelAfter(cts, 10), cts.Token));

        // Half done: the old model still answers, the new one is refused.
        Assert.Equal(new EmbeddingInfo(oldModel.ModelId, 32), store.Embedding);
        Assert.Equal("d3", (await DenseAsync(store, oldModel, "w113\nw203 w253 w303"))[0].Chunk.DocumentId);
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => DenseAsync(store, newModel, "w113"));
        Assert.Contains("re-embed", refused.Message);
        Assert.Equal(Docs, (await store.GetStatsAsync()).EmbeddedChunks);

        var summary = await Reembedder.RunAsync(store, newModel, batchSize: 5);
        Assert.Equal(10, summary.Resumed);
        Assert.Equal(Docs - 10, summary.Embedded);
        Assert.Equal(new EmbeddingInfo(newModel.ModelId, 48), store.Embedding);
        var stats = await store.GetStatsAsync();
        Assert.Equal(Docs, stats.EmbeddedChunks);

        // Every stored vector is now the new model's embedding of the chunk's ingest text (cosine 1 with itself).
        foreach (var (id, title, text) in Documents())
        {
            var top = (await DenseAsync(store, newModel, title + "\n" + text))[0];
            Assert.Equal(id, top.Chunk.DocumentId);
            Assert.True(top.Score > 0.9999, $"{id}: cosine {top.Score}");
        }
        await Assert.ThrowsAsync<InvalidOperationException>(() => DenseAsync(store, oldModel, "w113"));
    }

    [Fact]
    public async Task Staged_vectors_of_another_model_are_dropped_and_a_bm25_only_collection_gains_vectors()
    {
        using var dir = new TempDir();
        using var a = LocalEmbeddingGenerator.Load(Model(dir, "a", 3, 32), new LocalEmbeddingOptions { Threads = 1 });
        using var b = LocalEmbeddingGenerator.Load(Model(dir, "b", 4, 32), new LocalEmbeddingOptions { Threads = 1 });
        using var store = CollectionStores.Catalog(Path.Combine(dir.Path, "data")).Open("kb", create: true);
        await WholeDocuments.WriteAsync(store, Documents(), null, CancellationToken.None);
        Assert.Null(store.Embedding);

        using (var cts = new CancellationTokenSource())
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Reembedder.RunAsync(store, a, batchSize: 4, new CancelAfter(cts, 8), cts.Token));
        Assert.Null(store.Embedding);

        var summary = await Reembedder.RunAsync(store, b, batchSize: 7);
        Assert.Equal(0, summary.Resumed);
        Assert.Equal(Docs, summary.Embedded);
        Assert.Equal(b.ModelId, store.Embedding!.ModelId);
        Assert.Equal(Docs, (await store.GetStatsAsync()).EmbeddedChunks);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.CompleteReembedAsync());
    }
}
