using Microsoft.Extensions.AI;
using RagTune.Rag.Store;

namespace RagTune.Rag.Ingestion;

/// <summary>What a re-embedding did.</summary>
/// <param name="Embedded">Chunks embedded by this run.</param>
/// <param name="Resumed">Chunks whose vectors an earlier, interrupted run had already staged.</param>
/// <param name="Model">The collection's model now.</param>
public sealed record ReembedSummary(int Embedded, int Resumed, EmbeddingInfo Model);

/// <summary>
/// Re-embeds every chunk of a collection with another model, in batches, through <see cref="IReembedStore"/>'s staging
/// (the old model keeps serving until the final swap). Chunks are embedded from the same text ingest uses
/// (<see cref="IngestPipeline.EmbeddingText"/>).
/// </summary>
public static class Reembedder
{
    /// <summary>Re-embeds every chunk of <paramref name="store"/> with <paramref name="embedder"/>, <paramref name="batchSize"/> chunks at a time, resuming staged work; reports chunks done of total.</summary>
    public static async Task<ReembedSummary> RunAsync(IReembedStore store, IEmbeddingGenerator<string, Embedding<float>> embedder, int batchSize,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(embedder);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var probe = await embedder.GenerateAsync(["dimension probe"], cancellationToken: cancellationToken).ConfigureAwait(false);
        var modelId = embedder.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId ?? probe[0].ModelId
            ?? throw new InvalidOperationException("The embedding generator names no model id; a collection must record which model made its vectors.");
        var target = new EmbeddingInfo(modelId, probe[0].Vector.Length);
        var state = await store.BeginReembedAsync(target, cancellationToken).ConfigureAwait(false);
        int done = 0;
        while (true)
        {
            var chunks = await store.PendingReembedAsync(batchSize, cancellationToken).ConfigureAwait(false);
            if (chunks.Count == 0)
            {
                if (await store.CompleteReembedAsync(cancellationToken).ConfigureAwait(false)) break;
                continue; // an ingest added chunks between the read and the swap
            }
            var texts = chunks.Select(c => IngestPipeline.EmbeddingText(new SourceDocument("", "", c.Title, "", "", new Dictionary<string, string>()))(
                new Chunk(0, c.Text, 0, c.Text.Length, c.HeadingPath, 0))).ToList();
            var vectors = await embedder.GenerateAsync(texts, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (vectors.Count != chunks.Count)
                throw new InvalidOperationException($"The embedding generator returned {vectors.Count} vectors for {chunks.Count} texts.");
            await store.StageVectorsAsync(chunks.Select((c, i) => (c.ChunkId, vectors[i].Vector.ToArray())).ToList(), cancellationToken).ConfigureAwait(false);
            done += chunks.Count;
            progress?.Report((done + state.Staged, state.Pending + state.Staged));
        }
        return new ReembedSummary(done, state.Staged, target);
    }
}
