using RagTune.Rag.Store;

namespace RagTune.TestKit.Stores;

/// <summary>
/// What every store's re-embedding must do (<see cref="IReembedStore"/>): stage the new model's vectors beside the
/// live ones, switch them in with the model in one transaction, resume after an interruption, and refuse to complete
/// while chunks written meanwhile lack a staged vector. Each store's test project subclasses it with its backend.
/// </summary>
public abstract class ReembedContractTests : StoreBackendTests
{
    private protected ReembedContractTests(StoreBackend backend)
        : base(backend)
    {
    }

    [Fact]
    public async Task Staged_vectors_switch_in_atomically_with_the_model_and_a_rerun_resumes()
    {
        using var store = Backend.NewCatalog().Open("re", create: true);
        var old = new EmbeddingInfo("old", 2);
        await store.WriteBatchAsync([
            StoreData.Write("a", "alpha. beta") with { Embeddings = [[1, 0], [0, 1]] },
            StoreData.Write("b", "gamma") with { Embeddings = [[1, 1]] },
        ], old);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.PendingReembedAsync(10)); // not begun

        var target = new EmbeddingInfo("new", 3);
        Assert.Equal(new ReembedState(3, 0), await store.BeginReembedAsync(target));
        var pending = await store.PendingReembedAsync(2);
        Assert.Equal(2, pending.Count);
        Assert.Equal(["Intro", "Part 0"], pending[0].HeadingPath);
        Assert.Equal(("a", "alpha"), (pending[0].Title, pending[0].Text));
        await Assert.ThrowsAsync<ArgumentException>(() => store.StageVectorsAsync([(pending[0].ChunkId, new float[2])]));
        await store.StageVectorsAsync(pending.Select(p => (p.ChunkId, new float[] { 0, 0, 1 })).ToList());

        // Interrupted here: the old model still serves, and beginning again for the same model resumes.
        Assert.Equal(old, store.Embedding);
        Assert.Equal(3, (await store.SearchVectorAsync(new float[] { 1, 0 }, 10, SearchFilter.None)).Count);
        Assert.Equal(new ReembedState(1, 2), await store.BeginReembedAsync(target));
        Assert.False(await store.CompleteReembedAsync()); // one chunk still pending: nothing changes
        Assert.Equal(old, store.Embedding);

        var last = Assert.Single(await store.PendingReembedAsync(10));
        await store.StageVectorsAsync([(last.ChunkId, new float[] { 1, 0, 0 })]);
        Assert.True(await store.CompleteReembedAsync());
        Assert.Equal(target, store.Embedding);
        var hits = await store.SearchVectorAsync(new float[] { 1, 0, 0 }, 10, SearchFilter.None);
        Assert.Equal(3, hits.Count);
        Assert.Equal(last.ChunkId, hits[0].Chunk.ChunkId);
        Assert.Equal(1.0, hits[0].Score, 5);
        await Assert.ThrowsAsync<ArgumentException>(() => store.SearchVectorAsync(new float[] { 1, 0 }, 10, SearchFilter.None));
        Assert.Equal(3, (await store.GetStatsAsync()).EmbeddedChunks);

        // New writes must now come from the new model; a later re-embedding for another model drops stale staging.
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.WriteBatchAsync([StoreData.Write("c", "x") with { Embeddings = [[1, 0]] }], old));
        await store.WriteBatchAsync([StoreData.Write("c", "x") with { Embeddings = [[0, 1, 0]] }], target);
        Assert.Equal(new ReembedState(4, 0), await store.BeginReembedAsync(new EmbeddingInfo("third", 2)));
    }

    [Fact]
    public async Task Chunks_written_during_a_reembedding_keep_it_from_completing_until_staged()
    {
        using var store = Backend.NewCatalog().Open("re2", create: true);
        var model = new EmbeddingInfo("m", 2);
        await store.WriteBatchAsync([StoreData.Write("a", "alpha") with { Embeddings = [[1, 0]] }], model);
        var target = new EmbeddingInfo("m2", 2);
        await store.BeginReembedAsync(target);
        await store.StageVectorsAsync((await store.PendingReembedAsync(10)).Select(p => (p.ChunkId, new float[] { 0, 1 })).ToList());
        await store.WriteBatchAsync([StoreData.Write("b", "beta") with { Embeddings = [[1, 0]] }], model); // an ingest meanwhile
        Assert.False(await store.CompleteReembedAsync());
        await store.StageVectorsAsync((await store.PendingReembedAsync(10)).Select(p => (p.ChunkId, new float[] { 0, 1 })).ToList());
        Assert.True(await store.CompleteReembedAsync());
        Assert.Equal(2, (await store.GetStatsAsync()).EmbeddedChunks);
    }
}
