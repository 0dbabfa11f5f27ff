using Microsoft.Extensions.AI;
using RagTune.Hosting.Stores;
using RagTune.Rag.Ingestion;

namespace RagTune.Hosting.Pipelines;

/// <summary>
/// What <c>ragtune ingest</c> composes: the collection (created when new) in the store the settings name, the passage
/// embedder wrapped in the chunk-vector cache, and the incremental <see cref="IngestPipeline"/> over them. The
/// server's uploads go through <see cref="Collections.CollectionService"/>, which runs the same pipeline as a job.
/// </summary>
public static class CollectionIngest
{
    /// <summary>
    /// Reads, chunks, embeds (when <paramref name="embedder"/> is given) and stores <paramref name="sources"/> into
    /// <paramref name="collection"/>; only new or changed documents are processed. Chunks whose text this model
    /// embedded before (another collection, an earlier run) take their vectors from the cache. Takes ownership of
    /// <paramref name="embedder"/>.
    /// </summary>
    public static async Task<IngestSummary> RunAsync(CollectionStoreOptions store, string collection, IEmbeddingGenerator<string, Embedding<float>>? embedder,
        IngestOptions options, IReadOnlyList<string> sources, IProgress<IngestProgress>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        using var passages = RagParts.WithVectorCache(embedder, store.DataDirectory);
        using var opened = CollectionStores.Catalog(store).Open(collection, create: true);
        return await new IngestPipeline(opened, passages, options).RunAsync(sources, progress, ct).ConfigureAwait(false);
    }
}
