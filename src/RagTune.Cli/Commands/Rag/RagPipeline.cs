using Microsoft.Extensions.AI;
using RagTune.Models.Local;
using RagTune.Models.Remote;
using RagTune.Rag.Answering;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Cli.Commands.Rag;

/// <summary>
/// What <c>search</c>, <c>ask</c> and <c>mcp</c> build their pipeline from: the collection, the query embedder,
/// the reranker and the answering model. Defaults: data directory from <c>$RAGTUNE_DATA_DIR</c> or ~/.ragtune,
/// no embedder (BM25 only), no reranker, no chat model.
/// </summary>
internal sealed record RagPipelineOptions
{
    /// <summary>Collection name under the data directory; may be null when <see cref="DbFile"/> is given.</summary>
    public string? Collection { get; init; }

    /// <summary>Data directory holding <c>collections/&lt;name&gt;.db</c>.</summary>
    public string? DataDir { get; init; }

    /// <summary>A collection's SQLite file, opened directly instead of looking it up by name.</summary>
    public string? DbFile { get; init; }

    /// <summary>OpenAI-compatible server for query embeddings.</summary>
    public string? EmbedRemote { get; init; }

    /// <summary>Local embedding model, or with <see cref="EmbedRemote"/> the model name there.</summary>
    public string? EmbedModel { get; init; }

    /// <summary>Cross-encoder model that reorders the first-stage candidates.</summary>
    public string? Rerank { get; init; }

    /// <summary>Candidates the cross-encoder scores; default 20.</summary>
    public int RerankTop { get; init; } = 20;

    /// <summary>Local chat model (file, folder, or catalog/cache name) for answers.</summary>
    public string? Model { get; init; }

    /// <summary>Tokenizer file for a local model that carries none.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>LoRA adapter folder applied to <see cref="Model"/>.</summary>
    public string? Adapter { get; init; }

    /// <summary>OpenAI-compatible server for answers.</summary>
    public string? Remote { get; init; }

    /// <summary>Model name on <see cref="Remote"/>; default "default".</summary>
    public string RemoteModel { get; init; } = "default";

    /// <summary>Compute threads for a local model; 0 = one per processor.</summary>
    public int Threads { get; init; }

    /// <summary>Throws <see cref="UsageException"/> naming the option and the fix.</summary>
    public void Validate()
    {
        if (Collection == null && DbFile == null) throw new UsageException("Pass --collection <name> (or --db <collection file>).");
        if (Model != null && Remote != null) throw new UsageException("Pass either --model or --remote, not both.");
        if (Adapter != null && Model == null) throw new UsageException("--adapter applies to a local --model.");
        if (Threads < 0) throw new UsageException("--threads must be 0 (one per processor) or positive.");
    }
}

/// <summary>
/// The retrieval and answering parts over one collection, composed once from <see cref="RagPipelineOptions"/>
/// and disposed together: the one place the RAG commands and the MCP server build them.
/// </summary>
internal sealed class RagPipeline : IDisposable
{
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _embedder;
    private readonly CrossEncoderReranker? _reranker;

    private RagPipeline(SqliteChunkStore store, IEmbeddingGenerator<string, Embedding<float>>? embedder, CrossEncoderReranker? reranker, IChatClient? chat)
    {
        Store = store;
        _embedder = embedder;
        _reranker = reranker;
        Chat = chat;
    }

    /// <summary>The collection.</summary>
    public SqliteChunkStore Store { get; }

    /// <summary>The answering model, or null when none was configured.</summary>
    public IChatClient? Chat { get; }

    /// <summary>True when dense and hybrid retrieval are possible.</summary>
    public bool HasEmbedder => _embedder != null;

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
            var store = OpenStore(options);
            disposables.Add(store);
            var embedder = RagCliOptions.Embedder(options.EmbedRemote, options.EmbedModel, forQueries: true);
            if (embedder != null) disposables.Add(embedder);
            var reranker = RagCliOptions.Reranker(options.Rerank, options.RerankTop);
            if (reranker != null) disposables.Add(reranker);
            var chat = withChat ? CreateChat(options) : null;
            return new RagPipeline(store, embedder, reranker, chat);
        }
        catch
        {
            foreach (var d in disposables) d.Dispose();
            throw;
        }
    }

    private static SqliteChunkStore OpenStore(RagPipelineOptions options)
    {
        if (options.DbFile is not { } file) return RagCliOptions.OpenExisting(options.Collection!, options.DataDir);
        if (!File.Exists(file))
            throw new CollectionNotFoundException($"There is no collection file '{file}'; pass the path of a collection's .db file (see 'ragtune collections list'), or --collection <name>.");
        return SqliteChunkStore.OpenFile(options.Collection ?? Path.GetFileNameWithoutExtension(file), file, RagCliOptions.StoreOptions(options.DataDir));
    }

    private static IChatClient? CreateChat(RagPipelineOptions o)
    {
        if (o.Model != null)
        {
            var local = AdapterOption.Apply(LocalModel.Load(RagTune.Models.Downloads.ModelResolver.Resolve(o.Model), o.Tokenizer), o.Adapter);
            return new LocalChatClient(local, new LocalChatClientOptions { TokenizerPath = o.Tokenizer, Threads = o.Threads });
        }
        if (o.Remote != null) return new OpenAICompatibleChatClient(RagCliOptions.ParseUrl(o.Remote, "--remote"), o.RemoteModel, RagCliOptions.ApiKey());
        return null;
    }

    /// <summary>The best <paramref name="k"/> chunks for <paramref name="query"/>; a user-fixable problem is a <see cref="UsageException"/>.</summary>
    public async Task<IReadOnlyList<SearchHit>> SearchAsync(string query, SearchMode mode, int k, SearchFilter filter, CancellationToken ct)
    {
        if (mode != SearchMode.Bm25 && _embedder == null)
            throw new UsageException($"--mode {mode.ToString().ToLowerInvariant()} needs an embedding model: pass --embed-model <model> or --embed-remote <url> (the one the collection was ingested with), or use --mode bm25.");
        try
        {
            return await new Retriever(Store, _embedder, new RetrieverOptions { Reranker = _reranker }).SearchAsync(query, mode, k, filter, ct);
        }
        catch (InvalidOperationException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>The answering settings <c>ask</c> uses: <paramref name="sources"/> sources, greedy decoding, at most <paramref name="maxTokens"/> tokens.</summary>
    public static AnswererOptions AnswerOptions(int sources, int maxTokens) =>
        new() { MaxSources = sources, ChatOptions = new ChatOptions { MaxOutputTokens = maxTokens, Temperature = 0 } };

    public void Dispose()
    {
        Chat?.Dispose();
        _reranker?.Dispose();
        _embedder?.Dispose();
        Store.Dispose();
    }
}
