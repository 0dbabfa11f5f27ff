using System.CommandLine;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Pipelines;
using RagTune.Hosting.Stores;
using RagTune.Rag.Store;
using Spectre.Console;

namespace RagTune.Cli.Commands.Rag;

/// <summary>Options shared by the RAG commands (collection, data directory, embedding model) and their parsing.</summary>
internal static class RagCliOptions
{
    public static Option<string> Collection(bool required = true) =>
        new("--collection", "-c") { Description = "Collection name (letters, digits, '-', '_')", Required = required };

    public static Option<string?> DataDir() =>
        new("--data-dir") { Description = $"Data directory (default ${RagTuneDataDirectory.EnvironmentVariable}, else ~/.ragtune)" };

    /// <summary>
    /// <c>--store</c>, on the root command and every command under it (recursive): the PostgreSQL database that holds
    /// the collections instead of SQLite files under <c>--data-dir</c>. The one place the CLI learns which store to use.
    /// </summary>
    public static readonly Option<string?> Store = new("--store")
    {
        Description = "Keep collections in PostgreSQL with pgvector: postgres://user:password@host:5432/db or \"Host=…;Username=…;Database=…\" (default: SQLite files under --data-dir)",
        Recursive = true,
    };

    /// <summary>The collection store settings of <c>--store</c> and <paramref name="dataDir"/>.</summary>
    public static CollectionStoreOptions StoreOptions(ParseResult r, string? dataDir, double? titleWeight = null) => new()
    {
        DataDirectory = dataDir,
        ConnectionString = StoreOf(r),
        TitleWeight = titleWeight ?? new CollectionStoreOptions().TitleWeight,
    };

    /// <summary>The <c>--store</c> value, checked to be a PostgreSQL connection string; null when absent.</summary>
    public static string? StoreOf(ParseResult r)
    {
        var value = r.GetValue(Store);
        if (value is null) return null;
        if (!value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) && !value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
            && !value.Contains('=', StringComparison.Ordinal))
            throw new UsageException($"--store '{value}': expected a PostgreSQL connection string (postgres://user@host/db or \"Host=…;Database=…\"); for a folder of SQLite collections use --data-dir.");
        return value;
    }

    public static Option<string?> EmbedRemote() =>
        new("--embed-remote") { Description = "OpenAI-compatible server for embeddings, e.g. http://127.0.0.1:8080/v1 (none: BM25 only)" };

    public static Option<string?> EmbedModel() =>
        new("--embed-model") { Description = "Embedding model: a local BERT-family model (Hugging Face folder, GGUF, model.onnx or a folder with onnx/model.onnx, or catalog/cache name such as all-minilm-l6-v2), or with --embed-remote the model name on that server" };

    /// <summary><c>--mode</c>; unset means hybrid when an embedding model is at hand (named, or the one the collection was embedded with and is cached), else bm25.</summary>
    public static Option<RagTune.Rag.Retrieval.SearchMode?> Mode() =>
        new("--mode") { Description = "Retrieval: bm25, dense or hybrid (default: hybrid when an embedding model is given or the collection's is cached, else bm25)" };

    public static Option<string?> Rerank() =>
        new("--rerank") { Description = "Cross-encoder model folder (BERT with a one-label head, e.g. ms-marco MiniLM) that reorders the candidates" };

    public static Option<int> DenseAgreement() =>
        new("--dense-agreement")
        {
            Description = "Hybrid only: depth at which the dense ranking must share results with BM25's to get its full vote (0 = no gate; see docs/embeddings.md)",
            DefaultValueFactory = _ => new RagTune.Rag.Retrieval.RetrieverOptions().DenseAgreementDepth,
        };

    public static Option<RagTune.Rag.Retrieval.HybridFusion> Fusion() =>
        new("--fusion")
        {
            Description = "Hybrid only: scores (a weighted mean of each list's scores over its best) or rrf (reciprocal rank fusion); see docs/embeddings.md",
            DefaultValueFactory = _ => new RagTune.Rag.Retrieval.RetrieverOptions().Fusion,
        };

    public static Option<int> RerankTop() =>
        new("--rerank-top") { Description = "How many first-stage candidates the cross-encoder scores", DefaultValueFactory = _ => 20 };

    /// <summary>The reranker the options name, or null.</summary>
    public static CrossEncoderReranker? Reranker(string? model, int top) => RagParts.Reranker(model, top);

    /// <summary>The collections of <c>--store</c>, else of <c>--data-dir</c> (null: the default data directory).</summary>
    public static ICollectionCatalog Catalog(ParseResult r, string? dataDir) => CollectionStores.Catalog(StoreOptions(r, dataDir));

    /// <summary>
    /// The embedding generator the options name (remote with <paramref name="url"/>, local with <paramref name="model"/>,
    /// else null); remote servers get <see cref="ApiKey"/>.
    /// </summary>
    public static IEmbeddingGenerator<string, Embedding<float>>? Embedder(string? url, string? model, bool forQueries = false) =>
        RagParts.Embedder(url, model, ApiKey(), forQueries);

    public static Uri ParseUrl(string url, string option) => RagParts.ParseUrl(url, option);

    /// <summary>Bearer key for remote servers: <c>$RAGTUNE_API_KEY</c>, else <c>$OPENAI_API_KEY</c>, else none.</summary>
    public static string? ApiKey() =>
        Environment.GetEnvironmentVariable("RAGTUNE_API_KEY") is { Length: > 0 } k ? k
        : Environment.GetEnvironmentVariable("OPENAI_API_KEY") is { Length: > 0 } o ? o : null;

    /// <summary>Parses repeated <c>key=value</c> filters.</summary>
    public static SearchFilter Filter(string[]? values)
    {
        if (values == null || values.Length == 0) return SearchFilter.None;
        var conditions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            int eq = v.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new UsageException($"--filter '{v}': expected key=value, e.g. --filter ext=md.");
            conditions[v[..eq]] = v[(eq + 1)..];
        }
        return new SearchFilter(conditions);
    }

    /// <summary>Opens an existing collection (never creates one for a read command).</summary>
    public static ICollectionStore OpenExisting(ParseResult r, string name, string? dataDir) =>
        Catalog(r, dataDir).Open(name, create: false);
}

/// <summary>The Spectre console for the RAG commands: plain text (no ANSI codes, no live bars) when stdout is redirected.</summary>
internal static class RagConsole
{
    private static readonly Lazy<IAnsiConsole> s_out = new(() => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        Interactive = Console.IsOutputRedirected ? InteractionSupport.No : InteractionSupport.Detect,
        Out = new AnsiConsoleOutput(Console.Out),
    }));

    public static IAnsiConsole Out => s_out.Value;

    /// <summary>True when live progress bars can be drawn.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && Out.Profile.Capabilities.Interactive && Out.Profile.Capabilities.Ansi;
}
