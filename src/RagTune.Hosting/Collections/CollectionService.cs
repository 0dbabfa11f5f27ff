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
/// job (<see cref="IngestPipeline"/>); search (<see cref="Retriever"/>); grounded answers with verified citations
/// (<see cref="GroundedAnswerer"/>, or <see cref="ExtractiveAnswerer"/> without a model); and the cited passage in
/// its document. With <see cref="RagTuneOptions.EmbeddingModel"/> chunks are embedded on ingestion and search is
/// hybrid (BM25 + dense, fused) by default; without one collections are BM25-only.
/// </summary>
internal sealed class CollectionService(RagTuneOptions options, JobQueue jobs) : IDisposable
{
    public const string IngestKind = "ingest";

    private readonly ICollectionCatalog _catalog = CollectionStores.Catalog(options.CollectionStore);

    // Loaded on first use (start-up stays fast) and shared: the generator serialises its own calls.
    private readonly Lazy<LocalEmbeddingGenerator?> _embedder = new(() =>
        options.EmbeddingModel is { Length: > 0 } model ? LocalEmbeddingGenerator.Load(ModelResolver.Resolve(model)) : null);

    /// <summary>The search mode used when a request names none: hybrid with an embedding model, else BM25.</summary>
    public SearchMode DefaultMode => options.EmbeddingModel is { Length: > 0 } ? SearchMode.Hybrid : SearchMode.Bm25;

    /// <summary>The folder holding collection <paramref name="name"/>'s uploaded files.</summary>
    public string UploadFolder(string name) => Path.Combine(options.UploadsDirectory, CheckName(name));

    /// <summary>The names of the collections in the data directory, without opening them.</summary>
    public IReadOnlyList<string> Names() => [.. _catalog.List()];

    public async Task<IReadOnlyList<CollectionInfo>> ListAsync(CancellationToken ct)
    {
        var rows = new List<CollectionInfo>();
        foreach (var name in _catalog.List())
        {
            try { rows.Add(Info(await _catalog.StatsAsync(name, ct).ConfigureAwait(false))); }
            catch (CollectionFormatException e) { rows.Add(new CollectionInfo(name, 0, 0, 0, 0, null, e.Message)); }
        }
        return rows;
    }

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

    public async Task<IReadOnlyList<SearchResult>> SearchAsync(string name, string query, int k, string? mode, CancellationToken ct)
    {
        var hits = await RetrieveAsync(name, query, k, ResolveMode(mode), SearchFilter.None, ct).ConfigureAwait(false);
        return [.. hits.Select(h => new SearchResult(h.Rank, h.Score, h.Retriever, h.Chunk.ChunkId, h.Chunk.DocumentId, h.Chunk.Title,
            h.Chunk.Chunk.HeadingPath, h.Chunk.Chunk.Start, h.Chunk.Chunk.End, h.Chunk.Chunk.Text, h.Chunk.Pages))];
    }

    /// <summary>The most tokens an answer may have when the request names no limit.</summary>
    public const int DefaultMaxTokens = 256;

    /// <summary>
    /// Retrieves <paramref name="k"/> passages (<paramref name="mode"/> bm25, dense or hybrid; null for
    /// <see cref="DefaultMode"/>) and answers from them, streaming the text; the last update carries the verified
    /// answer with the model call's token usage and finish reason. <paramref name="generation"/> is passed to the
    /// model (max tokens, temperature, top_p, seed, stop sequences; stop sequences cut the answer before its
    /// citations are verified), under <paramref name="modelName"/> as its model id (which picks an adapter on a
    /// local model). Without a temperature the answer is greedy (temperature 0), so the same question over the same
    /// collection gets the same answer; without max tokens it has at most <see cref="DefaultMaxTokens"/>. With no
    /// <paramref name="chat"/> the answer quotes the sources (extractive) and reports zero tokens, as does an
    /// abstention decided before the model was called.
    /// </summary>
    public async IAsyncEnumerable<AskUpdate> AskAsync(string name, string question, int k, string? mode, IChatClient? chat, string? modelName,
        ChatOptions generation, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (generation.MaxOutputTokens is < 1) throw HostingException.Invalid($"maxTokens {generation.MaxOutputTokens} must be at least 1.", "maxTokens");
        var hits = await RetrieveAsync(name, question, k, ResolveMode(mode), SearchFilter.None, ct).ConfigureAwait(false);
        var statistics = await StatisticsAsync(name, question, ct).ConfigureAwait(false);
        await foreach (var update in AnswerAsync(question, hits, statistics, k, chat, modelName, generation, ct).ConfigureAwait(false))
            yield return update;
    }

    /// <summary>
    /// Answers <paramref name="question"/> from retrieved <paramref name="hits"/> as <see cref="AskAsync"/> does
    /// (the MCP tools retrieve with metadata filters first); <paramref name="statistics"/> are the collection's for
    /// the question (<see cref="StatisticsAsync"/>), which the check for abstaining before the model weighs terms by.
    /// </summary>
    internal async IAsyncEnumerable<AskUpdate> AnswerAsync(string question, IReadOnlyList<SearchHit> hits, TermStatistics? statistics, int k, IChatClient? chat, string? modelName,
        ChatOptions generation, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(generation);
        var settings = generation.Clone();
        settings.Temperature ??= 0;
        settings.MaxOutputTokens ??= DefaultMaxTokens;
        if (modelName != null) settings.ModelId = modelName;
        var answerer = new AnswererOptions { MaxSources = k, ChatOptions = settings };
        if (chat == null)
        {
            var answer = new ExtractiveAnswerer(answerer).Answer(question, hits);
            yield return new AskUpdate(answer.Text, null);
            yield return new AskUpdate("", Result(question, answer, null));
            yield break;
        }
        await foreach (var update in new GroundedAnswerer(chat, answerer).StreamAsync(question, hits, statistics, ct).ConfigureAwait(false))
        {
            if (update.Final is { } final)
            {
                // An abstention arrives in one piece: its text is the delta and the final answer at once.
                if (update.TextDelta.Length > 0) yield return new AskUpdate(update.TextDelta, null);
                yield return new AskUpdate("", Result(question, final, modelName));
            }
            else if (update.TextDelta.Length > 0)
            {
                yield return new AskUpdate(update.TextDelta, null);
            }
        }
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

    /// <summary>The best <paramref name="k"/> chunks of collection <paramref name="name"/> whose document metadata passes <paramref name="filter"/>.</summary>
    internal async Task<IReadOnlyList<SearchHit>> RetrieveAsync(string name, string query, int k, SearchMode searchMode, SearchFilter filter, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(query)) throw HostingException.Invalid("The query is empty; send the text to search for.", "query");
        if (k is < 1 or > 100) throw HostingException.Invalid($"k {k} must be between 1 and 100.", "k");
        RequireExisting(name);
        var embedder = searchMode == SearchMode.Bm25 ? null : _embedder.Value?.ForQueries();
        if (searchMode != SearchMode.Bm25 && embedder == null)
            throw HostingException.Invalid($"Search mode '{searchMode.ToString().ToLowerInvariant()}' needs an embedding model; start the server with --embed-model (RagTune:EmbeddingModel), or use 'bm25'.", "mode");
        using var store = _catalog.Open(name, create: false);
        try
        {
            return await new Retriever(store, embedder, new RetrieverOptions { DenseAgreementDepth = options.DenseAgreementDepth }).SearchAsync(query, searchMode, k, filter, ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            // The collection's vectors come from another model, or it has none yet: the message says which.
            throw HostingException.Invalid(e.Message, "mode");
        }
    }

    /// <summary>Collection <paramref name="name"/>'s term statistics for <paramref name="question"/> (see <see cref="GroundedAnswerer.StatisticsAsync"/>).</summary>
    internal async Task<TermStatistics> StatisticsAsync(string name, string question, CancellationToken ct)
    {
        RequireExisting(name);
        using var store = _catalog.Open(name, create: false);
        return await GroundedAnswerer.StatisticsAsync(store, question, ct).ConfigureAwait(false);
    }

    /// <summary>A request's search mode (bm25, dense or hybrid; null or empty for <see cref="DefaultMode"/>).</summary>
    internal SearchMode ResolveMode(string? mode) => mode?.ToLowerInvariant() switch
    {
        null or "" => DefaultMode,
        "bm25" => SearchMode.Bm25,
        "dense" => SearchMode.Dense,
        "hybrid" => SearchMode.Hybrid,
        _ => throw HostingException.Invalid($"Search mode '{mode}' is not known; use bm25, dense or hybrid.", "mode"),
    };

    public void Dispose()
    {
        if (_embedder.IsValueCreated) _embedder.Value?.Dispose();
    }

    private static AskResult Result(string question, GroundedAnswer a, string? model)
    {
        var cited = a.Sentences.SelectMany(s => s.Citations).ToHashSet();
        int prompt = (int)(a.Usage?.InputTokenCount ?? 0), completion = (int)(a.Usage?.OutputTokenCount ?? 0);
        return new AskResult(question, a.Text, a.Mode == "model" ? model ?? "model" : a.Mode, a.Abstained,
            [.. a.Sentences.Select(s => new AskSentence(s.Text, s.Citations, s.FabricatedCitations, s.Support, s.Supported))],
            [.. a.Sources.Select(s => new AskSource(s.Number, s.ChunkId, s.DocumentId, s.Title, s.Start, s.End, s.Text, cited.Contains(s.Number), s.Pages))],
            new AskUsage(prompt, completion, (int)(a.Usage?.TotalTokenCount ?? prompt + completion)),
            // M.E.AI's finish reasons carry OpenAI's words ("stop", "length", "content_filter", "tool_calls").
            a.FinishReason?.Value ?? "stop");
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

    private static CollectionInfo Info(CollectionStats s) =>
        new(s.Name, s.Documents, s.Chunks, s.EmbeddedChunks, s.FileBytes, s.Embedding?.ModelId, null);

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
