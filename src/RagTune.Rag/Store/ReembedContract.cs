namespace RagTune.Rag.Store;

/// <summary>A stored chunk as the re-embedder needs it: enough to rebuild the text ingest embedded.</summary>
/// <param name="ChunkId">The chunk's id.</param>
/// <param name="Title">Its document's title.</param>
/// <param name="HeadingPath">Headings enclosing it, outermost first.</param>
/// <param name="Text">The chunk's text.</param>
public sealed record ReembedChunk(long ChunkId, string Title, IReadOnlyList<string> HeadingPath, string Text);

/// <summary>Where a re-embedding stands.</summary>
/// <param name="Pending">Chunks without a staged vector of the new model.</param>
/// <param name="Staged">Chunks already holding one (from an earlier, interrupted run of the same model).</param>
public sealed record ReembedState(int Pending, int Staged);

/// <summary>
/// A store whose vectors can be replaced by another model's. New vectors are staged beside the live ones, which keep
/// serving queries (with the old model) until <see cref="CompleteReembedAsync"/> swaps them and the recorded model in
/// one transaction: a run killed at any point leaves the old model usable, and a rerun for the same model resumes.
/// </summary>
public interface IReembedStore
{
    /// <summary>Starts or resumes staging vectors of <paramref name="target"/>; vectors staged for another model are dropped.</summary>
    Task<ReembedState> BeginReembedAsync(EmbeddingInfo target, CancellationToken cancellationToken = default);

    /// <summary>Up to <paramref name="limit"/> chunks that have no staged vector yet, by id.</summary>
    Task<IReadOnlyList<ReembedChunk>> PendingReembedAsync(int limit, CancellationToken cancellationToken = default);

    /// <summary>Stages vectors (one transaction). Each must have the target's dimensions.</summary>
    Task StageVectorsAsync(IReadOnlyList<(long ChunkId, float[] Vector)> vectors, CancellationToken cancellationToken = default);

    /// <summary>
    /// Swaps the staged vectors in and records the target model, in one transaction. Returns false (changing nothing)
    /// when chunks are still pending, e.g. because an ingest added some meanwhile.
    /// </summary>
    Task<bool> CompleteReembedAsync(CancellationToken cancellationToken = default);
}
