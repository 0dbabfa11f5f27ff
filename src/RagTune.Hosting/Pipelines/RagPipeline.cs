using Microsoft.Extensions.AI;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Middleware;
using RagTune.Hosting.Models;
using RagTune.Hosting.Stores;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Pipelines;

/// <summary>
/// What a RAG pipeline over one collection is built from (the CLI's <c>search</c>, <c>ask</c> and <c>mcp</c>): the
/// collection, the query embedder, the reranker and the answering model. Defaults: data directory from
/// <c>$RAGTUNE_DATA_DIR</c> or ~/.ragtune, no embedder (BM25 only), no reranker, no chat model. Messages name the
/// CLI's flags, the one front end that builds it from settings.
/// </summary>
public sealed record RagPipelineOptions
{
    /// <summary>Collection name under the data directory; may be null when <see cref="DbFile"/> is given.</summary>
    public string? Collection { get; init; }

    /// <summary>Data directory holding <c>collections/&lt;name&gt;.db</c>.</summary>
    public string? DataDir { get; init; }

    /// <summary>PostgreSQL connection string of the store (<c>--store</c>); null: SQLite files under <see cref="DataDir"/>.</summary>
    public string? Store { get; init; }

    /// <summary>A collection's SQLite file, opened directly instead of looking it up by name.</summary>
    public string? DbFile { get; init; }

    /// <summary>OpenAI-compatible server for query embeddings.</summary>
    public string? EmbedRemote { get; init; }

    /// <summary>Local embedding model, or with <see cref="EmbedRemote"/> the model name there.</summary>
    public string? EmbedModel { get; init; }

    /// <summary>Cross-encoder model that reorders the first-stage candidates.</summary>
    public string? Rerank { get; init; }

    /// <summary>Hybrid search's agreement gate depth (<see cref="RetrieverOptions.DenseAgreementDepth"/>; 0 = no gate); default 10.</summary>
    public int DenseAgreementDepth { get; init; } = new RetrieverOptions().DenseAgreementDepth;

    /// <summary>Candidates the cross-encoder scores; default 20.</summary>
    public int RerankTop { get; init; } = 20;

    /// <summary>Local chat model (file, folder, or catalog/cache name) for answers.</summary>
    public string? Model { get; init; }

    /// <summary>Tokenizer file for a local model that carries none.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>LoRA adapter folder applied to <see cref="Model"/>.</summary>
    public string? Adapter { get; init; }

    /// <summary>OpenAI-compatible server for answers: a URL, or an endpoint named in the configuration file (<see cref="RemoteEndpoints"/>).</summary>
    public string? Remote { get; init; }

    /// <summary>Model name on <see cref="Remote"/>; default "default".</summary>
    public string RemoteModel { get; init; } = "default";

    /// <summary>Compute threads for a local model; 0 = one per processor.</summary>
    public int Threads { get; init; }

    /// <summary>Bearer key sent to <see cref="Remote"/> and <see cref="EmbedRemote"/>; none by default.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The Microsoft.Extensions.AI middleware the models are composed with (default: OpenTelemetry only).</summary>
    public ClientMiddlewareOptions Clients { get; init; } = new();

    /// <summary>Throws <see cref="HostingException"/> (Invalid) naming the option and the fix.</summary>
    public void Validate()
    {
        Clients.Validate();
        if (Collection == null && DbFile == null) throw HostingException.Invalid("Pass --collection <name> (or --db <collection file>).", "collection");
        if (Model != null && Remote != null) throw HostingException.Invalid("Pass either --model or --remote, not both.", "model");
        if (Adapter != null && Model == null) throw HostingException.Invalid("--adapter applies to a local --model.", "adapter");
        if (Threads < 0) throw HostingException.Invalid("--threads must be 0 (one per processor) or positive.", "threads");
        if (RerankTop < 1) throw HostingException.Invalid("--rerank-top must be at least 1.", "rerankTop");
        if (DenseAgreementDepth < 0) throw HostingException.Invalid("--dense-agreement must be 0 (no gate) or positive.", "denseAgreement");
    }
}

/// <summary>
/// The retrieval and answering parts over one collection, composed once from <see cref="RagPipelineOptions"/>
/// and disposed together: the one place the CLI's RAG commands and its MCP server build them.
/// </summary>
public sealed class RagPipeline : IDisposable
{
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _embedder;
    private readonly CrossEncoderReranker? _reranker;
    private readonly RagService _rag;

    private RagPipeline(ICollectionStore store, string location, IEmbeddingGenerator<string, Embedding<float>>? embedder, CrossEncoderReranker? reranker, IChatClient? chat, int denseAgreementDepth)
    {
        Store = store;
        Location = location;
        _embedder = embedder;
        _reranker = reranker;
        Chat = chat;
        // The CLI runs on the user's own machine: results show the stored source paths.
        _rag = new RagService(store, embedder, new RetrieverOptions { Reranker = reranker, DenseAgreementDepth = denseAgreementDepth }, showPaths: true);
    }

    /// <summary>The collection.</summary>
    public ICollectionStore Store { get; }

    /// <summary>Where the collection is kept, for logs (a SQLite collection: its file).</summary>
    public string Location { get; }

    /// <summary>The answering model, or null when none was configured.</summary>
    public IChatClient? Chat { get; }

    /// <summary>True when dense and hybrid retrieval are possible.</summary>
    public bool HasEmbedder => _embedder != null;

    /// <summary>The mode used when the user names none: hybrid when the collection has vectors and a model embeds queries, else BM25.</summary>
    public SearchMode DefaultMode => _rag.DefaultMode;

    /// <summary>
    /// Opens the collection (never creating one) and loads the models the options name; the chat model only
    /// when <paramref name="withChat"/>.
    /// </summary>
    public static RagPipeline Open(RagPipelineOptions options, bool withChat)
    {
        options.Validate();
        var disposables = new List<IDisposable>();
        try
        {
            var (store, location) = OpenStore(options);
            disposables.Add(store);
            // No model named: a collection embedded with a cached local model is searched with that model again.
            var embedder = (RagParts.Embedder(options.EmbedRemote, options.EmbedModel, options.ApiKey, forQueries: true)
                ?? (options.EmbedRemote == null ? RagParts.RecordedEmbedder(store.Embedding?.ModelId) : null)) is { } e ? ClientMiddleware.Embeddings(e, options.Clients) : null;
            if (embedder != null) disposables.Add(embedder);
            var reranker = RagParts.Reranker(options.Rerank, options.RerankTop);
            if (reranker != null) disposables.Add(reranker);
            var chat = withChat && CreateChat(options) is { } c ? ClientMiddleware.Chat(c, options.Clients) : null;
            return new RagPipeline(store, location, embedder, reranker, chat, options.DenseAgreementDepth);
        }
        catch
        {
            foreach (var d in disposables) d.Dispose();
            throw;
        }
    }

    private static (ICollectionStore Store, string Location) OpenStore(RagPipelineOptions options)
    {
        var settings = new CollectionStoreOptions { DataDirectory = options.DataDir, ConnectionString = options.Store };
        if (options.DbFile is not { } file)
        {
            var catalog = CollectionStores.Catalog(settings);
            return (catalog.Open(options.Collection!, create: false), catalog.LocationOf(options.Collection!));
        }
        if (!File.Exists(file))
            throw new CollectionNotFoundException($"There is no collection file '{file}'; pass the path of a collection's .db file (see 'ragtune collections list'), or --collection <name>.");
        return (CollectionStores.OpenFile(file, options.Collection ?? Path.GetFileNameWithoutExtension(file), settings), Path.GetFullPath(file));
    }

    private static IChatClient? CreateChat(RagPipelineOptions o) =>
        o.Model == null && o.Remote == null
            ? null
            : ChatModels.Create(new ChatModelSettings
            {
                Model = o.Model, Tokenizer = o.Tokenizer, Adapter = o.Adapter, Threads = o.Threads,
                Remote = o.Remote, RemoteModel = o.RemoteModel, ApiKey = o.ApiKey,
            });

    /// <summary>The best <paramref name="k"/> chunks for <paramref name="query"/>; a user-fixable problem is a <see cref="HostingException"/> (Invalid).</summary>
    public Task<IReadOnlyList<SearchHit>> SearchAsync(string query, SearchMode? requested, int k, SearchFilter filter, CancellationToken ct) =>
        _rag.SearchAsync(query, requested, k, filter, "pass --embed-model <model> or --embed-remote <url> (the one the collection was ingested with), or use --mode bm25", ct);

    /// <summary>The hits as the result records every front end sends.</summary>
    public IReadOnlyList<SearchResult> Results(IReadOnlyList<SearchHit> hits) => _rag.Results(hits);

    /// <summary>
    /// Answers <paramref name="question"/> from <paramref name="hits"/> (the first <paramref name="sources"/>) with
    /// <see cref="Chat"/>, greedy and at most <paramref name="maxTokens"/> tokens, or by quoting the sources when
    /// there is no model; the text streams, the last update carries the verified answer.
    /// </summary>
    public IAsyncEnumerable<AskUpdate> AnswerAsync(string question, IReadOnlyList<SearchHit> hits, int sources, int maxTokens, CancellationToken ct) =>
        _rag.AnswerAsync(question, hits, sources, Chat, null, new ChatOptions { MaxOutputTokens = maxTokens }, ct);

    /// <summary>Disposes the chat model, reranker and embedding model it loaded, and the store.</summary>
    public void Dispose()
    {
        Chat?.Dispose();
        _reranker?.Dispose();
        _embedder?.Dispose();
        Store.Dispose();
    }
}
