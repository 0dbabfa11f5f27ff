using System.Diagnostics;
using Microsoft.Extensions.AI;
using RagTune.Rag.Chunking;
using RagTune.Rag.Store;

namespace RagTune.Rag.Ingestion;

/// <summary>Ingest settings (<c>ragtune ingest</c>). Defaults documented per property.</summary>
public sealed record IngestOptions
{
    /// <summary>Reader settings (record fields, PDF timeout).</summary>
    public ReaderOptions Readers { get; init; } = ReaderOptions.Default;

    /// <summary>Chunk sizes.</summary>
    public ChunkerOptions Chunking { get; init; } = new();

    /// <summary>Documents per <see cref="IChunkStore.WriteBatchAsync"/> (one transaction each). Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Chunk texts per embedding request. Default 32.</summary>
    public int EmbedBatchSize { get; init; } = 32;

    /// <summary><c>--sync</c>: delete stored documents whose source file, inside the scopes given, no longer exists or no longer yields them.</summary>
    public bool Sync { get; init; }

    /// <summary>Re-process every document even when its content hash is unchanged (e.g. after changing chunk sizes).</summary>
    public bool Force { get; init; }

    /// <summary>Folder relative sources are resolved against; default the current directory.</summary>
    public string? BaseDirectory { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Readers);
        ArgumentNullException.ThrowIfNull(Chunking);
        Readers.Validate();
        Chunking.Validate();
        if (BatchSize < 1) throw new ArgumentException($"IngestOptions.BatchSize must be at least 1 (got {BatchSize}).");
        if (EmbedBatchSize < 1) throw new ArgumentException($"IngestOptions.EmbedBatchSize must be at least 1 (got {EmbedBatchSize}).");
    }
}

/// <summary>
/// Progress of one stage: "scan", "read", "chunk", "embed", "write", "delete". <paramref name="Done"/> of
/// <paramref name="Total"/> items (files for read, documents for chunk/write/delete, chunks for embed);
/// <paramref name="Elapsed"/> since the stage began, for rate and ETA.
/// </summary>
public sealed record IngestProgress(string Stage, int Done, int Total, string? Item, TimeSpan Elapsed);

/// <summary>A source that failed (and was skipped) with the reason.</summary>
public sealed record IngestFailure(string Source, string Reason);

/// <summary>What an ingest run did.</summary>
public sealed record IngestSummary(
    int Added, int Updated, int Unchanged, int Deleted, IReadOnlyList<IngestFailure> Failed,
    int Files, int ChunksWritten, int ChunksEmbedded, EmbeddingInfo? Embedding, TimeSpan Elapsed);

/// <summary>The embedding model differs from the one that made the collection's vectors.</summary>
internal sealed class EmbeddingMismatchException : InvalidOperationException
{
    /// <summary>Creates the exception with a message that says what to do.</summary>
    public EmbeddingMismatchException(string message) : base(message) { }
}

/// <summary>
/// read → chunk → embed → write. Incremental: documents whose content hash matches the store's are skipped;
/// with <see cref="IngestOptions.Sync"/> documents from vanished files (inside the given scopes) are deleted. A
/// file that cannot be read is reported in <see cref="IngestSummary.Failed"/> and the run goes on; store and
/// embedding errors stop the run (every committed batch stays committed).
/// </summary>
public sealed class IngestPipeline
{
    private readonly IChunkStore _store;
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _embedder;
    private readonly IngestOptions _options;
    private readonly Chunker _chunker;

    /// <summary>Creates the pipeline; <paramref name="embedder"/> null gives a BM25-only collection.</summary>
    public IngestPipeline(IChunkStore store, IEmbeddingGenerator<string, Embedding<float>>? embedder, IngestOptions options)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _store = store;
        _embedder = embedder;
        _options = options;
        _chunker = new Chunker(options.Chunking);
    }

    /// <summary>Ingests <paramref name="sources"/> (files, folders, globs).</summary>
    public async Task<IngestSummary> RunAsync(IReadOnlyList<string> sources, IProgress<IngestProgress>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var total = Stopwatch.StartNew();
        var modelId = _embedder?.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId;
        CheckModel(modelId, dimensions: null);

        var set = SourceEnumerator.Expand(sources, _options.BaseDirectory);
        var failed = set.Problems.Select(p => new IngestFailure(p.Source, p.Reason)).ToList();
        progress?.Report(new IngestProgress("scan", set.Files.Count, set.Files.Count, null, total.Elapsed));
        var states = await _store.GetDocumentStatesAsync(ct).ConfigureAwait(false);

        // read
        var docs = new List<SourceDocument>();
        var seenIds = new HashSet<string>(StringComparer.Ordinal);
        var failedFiles = new HashSet<string>(StringComparer.Ordinal);
        var stage = Stopwatch.StartNew();
        for (var i = 0; i < set.Files.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var file = set.Files[i];
            try
            {
                foreach (var d in DocumentReaders.Read(file.FullPath, _options.Readers, file.Id))
                {
                    if (!seenIds.Add(d.Id))
                    {
                        failed.Add(new IngestFailure(d.Source, $"duplicate document id '{d.Id}' (already read from another source); skipped"));
                        continue;
                    }
                    docs.Add(d);
                }
            }
            catch (DocumentReadException e)
            {
                failed.Add(new IngestFailure(file.FullPath, e.Reason));
                failedFiles.Add(file.FullPath);
            }
            progress?.Report(new IngestProgress("read", i + 1, set.Files.Count, file.Id, stage.Elapsed));
        }

        // classify
        var changed = new List<SourceDocument>();
        int added = 0, updated = 0, unchanged = 0;
        foreach (var d in docs)
        {
            if (states.TryGetValue(d.Id, out var st))
            {
                if (!_options.Force && st.ContentHash == d.ContentHash) { unchanged++; continue; }
                updated++;
            }
            else
            {
                added++;
            }
            changed.Add(d);
        }

        // chunk, embed, write: batch by batch so memory holds one batch of vectors
        EmbeddingInfo? info = _store.Embedding;
        int chunksWritten = 0, chunksEmbedded = 0, written = 0;
        var chunkClock = Stopwatch.StartNew();
        var embedClock = new Stopwatch();
        var writeClock = new Stopwatch();
        var totalChunks = 0;
        var embedTotal = 0;
        var chunked = new List<(SourceDocument Doc, IReadOnlyList<Chunk> Chunks)>(changed.Count);
        for (var i = 0; i < changed.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var chunks = _chunker.Split(changed[i]);
            chunked.Add((changed[i], chunks));
            totalChunks += chunks.Count;
            progress?.Report(new IngestProgress("chunk", i + 1, changed.Count, changed[i].Id, chunkClock.Elapsed));
        }
        if (_embedder != null) embedTotal = totalChunks;
        for (var b = 0; b < chunked.Count; b += _options.BatchSize)
        {
            var batch = chunked.Skip(b).Take(_options.BatchSize).ToList();
            var writes = new List<DocumentWrite>(batch.Count);
            if (_embedder != null)
            {
                embedClock.Start();
                var texts = batch.SelectMany(x => x.Chunks.Select(EmbeddingText(x.Doc))).ToList();
                var vectors = new List<float[]>(texts.Count);
                for (var e = 0; e < texts.Count; e += _options.EmbedBatchSize)
                {
                    ct.ThrowIfCancellationRequested();
                    var slice = texts.Skip(e).Take(_options.EmbedBatchSize).ToList();
                    var result = await _embedder.GenerateAsync(slice, cancellationToken: ct).ConfigureAwait(false);
                    if (result.Count != slice.Count)
                        throw new InvalidOperationException($"The embedding generator returned {result.Count} vectors for {slice.Count} texts.");
                    foreach (var emb in result)
                    {
                        var v = emb.Vector.ToArray();
                        if (info == null) info = new EmbeddingInfo(modelId ?? emb.ModelId ?? "unknown", v.Length);
                        else CheckVector(info, modelId ?? emb.ModelId, v.Length);
                        vectors.Add(v);
                    }
                    chunksEmbedded += slice.Count;
                    progress?.Report(new IngestProgress("embed", chunksEmbedded, embedTotal, null, embedClock.Elapsed));
                }
                embedClock.Stop();
                var k = 0;
                foreach (var (doc, chunks) in batch)
                {
                    writes.Add(new DocumentWrite(doc, chunks, vectors.GetRange(k, chunks.Count)));
                    k += chunks.Count;
                }
            }
            else
            {
                writes.AddRange(batch.Select(x => new DocumentWrite(x.Doc, x.Chunks, null)));
            }
            writeClock.Start();
            await _store.WriteBatchAsync(writes, _embedder != null ? info : null, ct).ConfigureAwait(false);
            writeClock.Stop();
            written += batch.Count;
            chunksWritten += batch.Sum(x => x.Chunks.Count);
            progress?.Report(new IngestProgress("write", written, chunked.Count, batch[^1].Doc.Id, writeClock.Elapsed));
        }

        // sync: delete documents whose source lies in a scope but was not produced this run
        var deleted = 0;
        if (_options.Sync)
        {
            var gone = new List<string>();
            foreach (var st in states.Values)
            {
                if (seenIds.Contains(st.Id)) continue;
                var file = SourceFilePath(st.Source);
                if (failedFiles.Contains(file)) continue; // unreadable this time is not gone
                if (set.Scopes.Any(s => s.Contains(file))) gone.Add(st.Id);
            }
            if (gone.Count > 0)
            {
                gone.Sort(StringComparer.Ordinal);
                var clock = Stopwatch.StartNew();
                for (var b = 0; b < gone.Count; b += _options.BatchSize)
                {
                    var slice = gone.Skip(b).Take(_options.BatchSize).ToList();
                    await _store.DeleteDocumentsAsync(slice, ct).ConfigureAwait(false);
                    deleted += slice.Count;
                    progress?.Report(new IngestProgress("delete", deleted, gone.Count, null, clock.Elapsed));
                }
            }
        }

        return new IngestSummary(added, updated, unchanged, deleted, failed, set.Files.Count, chunksWritten, chunksEmbedded,
            _embedder != null ? info : _store.Embedding, total.Elapsed);
    }

    /// <summary>The text embedded for a chunk: the document title and heading path give context the chunk lacks.</summary>
    internal static Func<Chunk, string> EmbeddingText(SourceDocument doc) => c =>
    {
        var head = c.HeadingPath.Count > 0 ? string.Join(" > ", c.HeadingPath) : doc.Title;
        return head.Length > 0 && !c.Text.StartsWith('#') ? head + "\n" + c.Text : c.Text;
    };

    /// <summary>The file part of a stored source ("path#record" for records).</summary>
    public static string SourceFilePath(string source)
    {
        var hash = source.LastIndexOf('#');
        if (hash > 0 && hash < source.Length - 1 && source.AsSpan(hash + 1).IndexOfAnyExceptInRange('0', '9') < 0)
        {
            var file = source[..hash];
            if (Path.GetExtension(file).ToLowerInvariant() is ".json" or ".jsonl" or ".csv") return file;
        }
        return source;
    }

    private void CheckModel(string? modelId, int? dimensions)
    {
        var existing = _store.Embedding;
        if (existing == null) return;
        if (_embedder == null)
            throw new EmbeddingMismatchException(
                $"Collection '{_store.Name}' holds vectors from embedding model '{existing.ModelId}' ({existing.Dimensions} dimensions), but no embedding model is configured. " +
                "Configure the same embedding model to keep the collection consistent, or re-ingest into a new collection.");
        if (modelId != null && !string.Equals(modelId, existing.ModelId, StringComparison.Ordinal))
            throw new EmbeddingMismatchException(
                $"Collection '{_store.Name}' holds vectors from embedding model '{existing.ModelId}', but the configured model is '{modelId}'. " +
                $"Use '{existing.ModelId}' for this collection, or re-embed: ingest into a new collection (or delete this one) with '{modelId}'.");
        if (dimensions != null && dimensions != existing.Dimensions)
            throw new EmbeddingMismatchException(
                $"Collection '{_store.Name}' holds {existing.Dimensions}-dimensional vectors, but the embedding model returned {dimensions}. Use the collection's model or re-embed into a new collection.");
    }

    private void CheckVector(EmbeddingInfo info, string? modelId, int dimensions)
    {
        if (dimensions != info.Dimensions)
            throw new EmbeddingMismatchException(
                $"The embedding model returned a {dimensions}-dimensional vector, but collection '{_store.Name}' uses {info.Dimensions} dimensions (model '{info.ModelId}'). Use the collection's model or re-embed into a new collection.");
        if (modelId != null && info.ModelId != "unknown" && modelId != info.ModelId)
            throw new EmbeddingMismatchException(
                $"Collection '{_store.Name}' holds vectors from embedding model '{info.ModelId}', but the configured model is '{modelId}'. Use the same model, or re-embed into a new collection.");
    }
}
