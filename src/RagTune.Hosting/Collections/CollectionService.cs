using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Jobs;
using RagTune.Models.Downloads;
using RagTune.Models.Embeddings;
using RagTune.Rag.Answering;
using RagTune.Hosting.Pipelines;
using RagTune.Hosting.Stores;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Collections;

/// <summary>
/// Collections of the configured store for a front end: create, list, stats, delete; uploads and their ingestion as a
/// job (<see cref="IngestPipeline"/>); search and grounded answers with verified citations through
/// <see cref="RagService"/>; and the cited passage in its document. With <see cref="RagTuneOptions.EmbeddingModel"/> chunks are embedded on ingestion and search is
/// hybrid (BM25 + dense, fused) by default; without one collections are BM25-only.
/// </summary>
public sealed class CollectionService(RagTuneOptions options, JobQueue jobs) : IDisposable
{
    /// <summary>The <see cref="Job.Kind"/> of an ingestion job.</summary>
    public const string IngestKind = "ingest";

    private readonly ICollectionCatalog _catalog = CollectionStores.Catalog(options.CollectionStore);

    // Loaded on first use (start-up stays fast) and shared: the generator serialises its own calls.
    private readonly Lazy<LocalEmbeddingGenerator?> _embedder = new(() =>
        options.EmbeddingModel is { Length: > 0 } model ? LocalEmbeddingGenerator.Load(ModelResolver.Resolve(model)) : null);

    /// <summary>The folder holding collection <paramref name="name"/>'s uploaded files.</summary>
    public string UploadFolder(string name) => Path.Combine(options.UploadsDirectory, CheckName(name));

    /// <summary>The names of the collections in the data directory, without opening them.</summary>
    public IReadOnlyList<string> Names() => [.. _catalog.List()];

    /// <summary>Every collection with its counts and sizes, sorted by name; one that cannot be read is listed with its error.</summary>
    public async Task<IReadOnlyList<CollectionInfo>> ListAsync(CancellationToken ct)
    {
        var rows = new List<CollectionInfo>();
        foreach (var name in _catalog.List())
        {
            try { rows.Add(Info(await _catalog.StatsAsync(name, ct).ConfigureAwait(false))); }
            catch (CollectionFormatException e) { rows.Add(CollectionInfo.Unreadable(name, e.Message)); }
        }
        return rows;
    }

    /// <summary>The counts and sizes of collection <paramref name="name"/>; a <see cref="HostingException"/> (not found) when it does not exist.</summary>
    public async Task<CollectionInfo> StatsAsync(string name, CancellationToken ct)
    {
        RequireExisting(name);
        return Info(await _catalog.StatsAsync(name, ct).ConfigureAwait(false));
    }

    /// <summary>Creates an empty collection; a second create of the same name is a conflict.</summary>
    public async Task<CollectionInfo> CreateAsync(string name, CancellationToken ct)
    {
        CheckName(name);
        if (_catalog.Exists(name)) throw HostingException.Conflict($"The collection '{name}' already exists.", "name");
        using var store = _catalog.Open(name, create: true);
        return Info(await store.GetStatsAsync(ct).ConfigureAwait(false));
    }

    /// <summary>Deletes the collection and its uploaded files; refused while an ingestion job works on it.</summary>
    public void Delete(string name)
    {
        RequireExisting(name);
        if (jobs.IsBusy(IngestKind, name))
            throw HostingException.Conflict($"An ingestion job is working on '{name}'; cancel it or wait for it before deleting the collection.", "name");
        _catalog.Delete(name);
        var uploads = UploadFolder(name);
        if (Directory.Exists(uploads)) Directory.Delete(uploads, recursive: true);
    }

    /// <summary>Stores one uploaded document (a supported type) in the collection's upload folder.</summary>
    public Task<StoredUpload> SaveUploadAsync(string name, string? fileName, Stream content, CancellationToken ct)
    {
        RequireExisting(name);
        var safe = UploadStore.SanitizeFileName(fileName);
        if (safe != null && !DocumentReaders.IsSupported(safe))
            throw HostingException.Invalid(
                $"'{fileName}' is not a supported document type; upload one of {string.Join(", ", DocumentReaders.SupportedExtensions)}.", "file");
        return UploadStore.SaveAsync(UploadFolder(name), fileName, content, options.MaxUploadBytes, ct);
    }

    /// <summary>Queues the ingestion of the collection's upload folder (only new or changed files are processed).</summary>
    public Job StartIngest(string name)
    {
        RequireExisting(name);
        var folder = UploadFolder(name);
        return jobs.Enqueue(IngestKind, $"Ingest into {name}", name, async (job, ct) =>
        {
            using var store = _catalog.Open(name, create: false);
            using var passages = RagParts.WithVectorCache(_embedder.Value, options.ResolvedDataDirectory, ownsInner: false);
            var pipeline = new IngestPipeline(store, passages, new IngestOptions { BaseDirectory = folder });
            var summary = await pipeline.RunAsync([folder], new IngestJobProgress(job), ct).ConfigureAwait(false);
            return new IngestResult(summary.Added, summary.Updated, summary.Unchanged, summary.Deleted,
                [.. summary.Failed.Select(f => new IngestProblem(Path.GetFileName(IngestPipeline.SourceFilePath(f.Source)), f.Reason))],
                summary.Files, summary.ChunksWritten, summary.Elapsed.TotalSeconds);
        });
    }

    /// <summary>
    /// The best <paramref name="k"/> chunks of collection <paramref name="name"/> for <paramref name="query"/>
    /// (<paramref name="mode"/> bm25, dense or hybrid; null for hybrid when the collection has vectors and the server
    /// an embedding model, else BM25).
    /// </summary>
    public Task<SearchResponse> SearchAsync(string name, string query, int k, string? mode, CancellationToken ct) =>
        SearchAsync(name, query, k, mode, SearchFilter.None, ct);

    /// <summary><see cref="SearchAsync(string, string, int, string?, CancellationToken)"/> of the chunks whose document metadata passes <paramref name="filter"/>.</summary>
    public async Task<SearchResponse> SearchAsync(string name, string query, int k, string? mode, SearchFilter filter, CancellationToken ct)
    {
        CheckK(k);
        RequireExisting(name);
        using var store = _catalog.Open(name, create: false);
        var rag = Service(store);
        var searchMode = RagService.ParseMode(mode) ?? rag.DefaultMode;
        var hits = await rag.SearchAsync(query, searchMode, k, filter, EmbedderHint, ct).ConfigureAwait(false);
        return new SearchResponse(name, query, searchMode.ToString().ToLowerInvariant(), rag.Results(hits));
    }

    /// <summary>
    /// Retrieves <paramref name="k"/> passages as <see cref="SearchAsync(string, string, int, string?, CancellationToken)"/> does and answers from them, streaming the
    /// text; the last update carries the verified answer (see <see cref="RagService.AnswerAsync"/>: greedy and at most
    /// <see cref="RagService.DefaultMaxTokens"/> tokens unless <paramref name="generation"/> says otherwise; without
    /// <paramref name="chat"/> the answer quotes the sources).
    /// </summary>
    public IAsyncEnumerable<AskUpdate> AskAsync(string name, string question, int k, string? mode, IChatClient? chat, string? modelName,
        ChatOptions generation, CancellationToken ct) => AskAsync(name, question, k, mode, SearchFilter.None, chat, modelName, generation, ct);

    /// <summary><see cref="AskAsync(string, string, int, string?, IChatClient?, string?, ChatOptions, CancellationToken)"/> from the chunks whose document metadata passes <paramref name="filter"/>.</summary>
    public async IAsyncEnumerable<AskUpdate> AskAsync(string name, string question, int k, string? mode, SearchFilter filter, IChatClient? chat, string? modelName,
        ChatOptions generation, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (generation.MaxOutputTokens is < 1) throw HostingException.Invalid($"maxTokens {generation.MaxOutputTokens} must be at least 1.", "maxTokens");
        CheckK(k);
        RequireExisting(name);
        using var store = _catalog.Open(name, create: false);
        var rag = Service(store);
        var hits = await rag.SearchAsync(question, RagService.ParseMode(mode), k, filter, EmbedderHint, ct).ConfigureAwait(false);
        await foreach (var update in rag.AnswerAsync(question, hits, k, chat, modelName, generation, ct).ConfigureAwait(false))
            yield return update;
    }

    private const string EmbedderHint = "start the server with --embed-model (RagTune:EmbeddingModel), or use 'bm25'";

    // Search and answers over one opened collection, the same composition the CLI uses; no paths leave the server.
    private RagService Service(ICollectionStore store) =>
        new(store, _embedder.Value?.ForQueries(), new RetrieverOptions { DenseAgreementDepth = options.DenseAgreementDepth }, showPaths: false);

    private static void CheckK(int k)
    {
        if (k is < 1 or > 100) throw HostingException.Invalid($"k {k} must be between 1 and 100.", "k");
    }

    /// <summary>The cited chunk in its document's text, read again from the uploaded file with the same reader.</summary>
    public async Task<Passage> PassageAsync(string name, long chunkId, CancellationToken ct)
    {
        RequireExisting(name);
        StoredChunk chunk;
        using (var store = _catalog.Open(name, create: false))
            chunk = await store.GetChunkAsync(chunkId, ct).ConfigureAwait(false)
                ?? throw HostingException.NotFound($"The collection '{name}' has no chunk {chunkId}.", "chunkId");
        var c = chunk.Chunk;
        var alone = new Passage(name, chunkId, chunk.DocumentId, chunk.Title, c.Text, 0, c.Text.Length, false);
        var file = Path.GetFullPath(IngestPipeline.SourceFilePath(chunk.Source));
        // Only files this service stored are read back: a collection ingested elsewhere may point anywhere on disk.
        var folder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(UploadFolder(name))) + Path.DirectorySeparatorChar;
        if (!file.StartsWith(folder, StringComparison.Ordinal) || !File.Exists(file)) return alone;
        try
        {
            var doc = DocumentReaders.Read(file, ReaderOptions.Default, Path.GetRelativePath(folder, file).Replace('\\', '/'))
                .FirstOrDefault(d => d.Id == chunk.DocumentId);
            // The file may have changed since it was ingested; then the stored offsets no longer point at the passage.
            if (doc == null || c.End > doc.Text.Length || !doc.Text.AsSpan(c.Start, c.End - c.Start).SequenceEqual(c.Text)) return alone;
            return new Passage(name, chunkId, chunk.DocumentId, chunk.Title, doc.Text, c.Start, c.End, true);
        }
        catch (DocumentReadException)
        {
            return alone;
        }
    }

    /// <summary>Disposes the embedding model when it was loaded.</summary>
    public void Dispose()
    {
        if (_embedder.IsValueCreated) _embedder.Value?.Dispose();
    }

    private void RequireExisting(string name)
    {
        CheckName(name);
        if (!_catalog.Exists(name)) throw HostingException.NotFound($"There is no collection '{name}'; create it first (POST /api/collections).", "collection");
    }

    private static string CheckName(string name) =>
        CollectionNames.IsValid(name)
            ? name
            : throw HostingException.Invalid(
                $"'{name}' is not a valid collection name: use 1-{CollectionNames.MaxLength} ASCII letters, digits, '-' or '_' (e.g. 'my-docs').", "name");

    private static CollectionInfo Info(CollectionStats s) => CollectionInfo.From(s, null);

    /// <summary>Maps the pipeline's per-stage progress onto the job, with an ETA from the stage's rate so far.</summary>
    private sealed class IngestJobProgress(Job job) : IProgress<IngestProgress>
    {
        public void Report(IngestProgress p)
        {
            double rate = p.Elapsed.TotalSeconds > 0 ? p.Done / p.Elapsed.TotalSeconds : 0;
            TimeSpan? eta = rate > 0 && p.Done < p.Total ? TimeSpan.FromSeconds((p.Total - p.Done) / rate) : null;
            job.Report(p.Stage, p.Done, p.Total, eta, p.Item);
        }
    }
}
