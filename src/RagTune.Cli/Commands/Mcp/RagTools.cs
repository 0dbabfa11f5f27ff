using System.Text.Json.Serialization.Metadata;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using RagTune.Cli.Commands.Rag;
using RagTune.Hosting.Pipelines;
using RagTune.Rag.Answering;
using RagTune.Rag.Retrieval;

namespace RagTune.Cli.Commands.Mcp;

/// <summary>
/// A RagTune MCP tool with a hand-written JSON schema (so the schema clients see is exactly the one documented) and
/// one error policy: a problem the caller can fix comes back as a tool error (<c>isError: true</c>) whose text says
/// what to change, so an agent can correct its call; anything else is logged to stderr and reported the same way.
/// </summary>
internal abstract class RagTool(string name, string title, string description, string inputSchema, ILogger log) : McpServerTool
{
    private static readonly string[] s_modes = ["bm25", "dense", "hybrid"];

    // The text block is read by language models: quotes and '<' stay as they are instead of \u0022 escapes.
    private static readonly JsonSerializerOptions s_readable = new(McpJson.Default.Options) { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public override Tool ProtocolTool { get; } = new()
    {
        Name = name,
        Title = title,
        Description = description,
        InputSchema = JsonDocument.Parse(inputSchema).RootElement.Clone(),
        Annotations = new ToolAnnotations { ReadOnlyHint = true, DestructiveHint = false, IdempotentHint = true, OpenWorldHint = false },
    };

    public override IReadOnlyList<object> Metadata => [];

    public sealed override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        try
        {
            return await CallAsync(new ToolArguments(name, request.Params?.Arguments), cancellationToken);
        }
        catch (Exception e) when (e is ToolArgumentException or UsageException or RagTune.Hosting.HostingException or ArgumentException or IOException or RagTune.Engine.Models.ContextOverflowException)
        {
            return Error(e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError(e, "Tool {Tool} failed", name);
            return Error($"{name} failed: {e.Message}");
        }
    }

    protected abstract Task<CallToolResult> CallAsync(ToolArguments args, CancellationToken ct);

    /// <summary>The result as structured content, and the same JSON as text for clients that read only text.</summary>
    protected static CallToolResult Result<T>(T value)
    {
        var text = JsonSerializer.Serialize(value, (JsonTypeInfo<T>)s_readable.GetTypeInfo(typeof(T)));
        using var json = JsonDocument.Parse(text);
        return new CallToolResult { StructuredContent = json.RootElement.Clone(), Content = [new TextContentBlock { Text = text }], IsError = false };
    }

    private static CallToolResult Error(string message) => new() { Content = [new TextContentBlock { Text = message }], IsError = true };

    /// <summary>The <c>mode</c> argument; default hybrid when the server has an embedding model, else BM25.</summary>
    protected static SearchMode Mode(ToolArguments args, RagPipeline rag) => args.OptionalEnum("mode", s_modes) switch
    {
        "bm25" => SearchMode.Bm25,
        "dense" => SearchMode.Dense,
        "hybrid" => SearchMode.Hybrid,
        _ => rag.DefaultMode,
    };

    protected const string ModeSchema = """
        "mode": {"type": "string", "enum": ["bm25", "dense", "hybrid"], "description": "Retrieval: keyword (bm25), embedding (dense) or both fused (hybrid). Default: hybrid when the server has an embedding model, else bm25."}
        """;

    protected const string FiltersSchema = """
        "filters": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Metadata equality conditions that must all hold, e.g. {\"ext\": \"md\"}."}
        """;
}

/// <summary>The <c>search</c> tool: ranked passages from the collection.</summary>
internal sealed class SearchTool(RagPipeline rag, ILogger log) : RagTool("search", "Search the collection",
    $"Search the RagTune collection '{rag.Store.Name}' and return the best passages, each with its document, source path, title, " +
    "heading path, score and character span in the document.",
    $$"""
    {
      "type": "object",
      "properties": {
        "query": {"type": "string", "description": "What to search for: keywords or a question."},
        "top_k": {"type": "integer", "minimum": 1, "maximum": {{MaxK}}, "default": 5, "description": "How many passages to return."},
        {{ModeSchema}},
        {{FiltersSchema}}
      },
      "required": ["query"],
      "additionalProperties": false
    }
    """, log)
{
    public const int MaxK = 50;

    protected override async Task<CallToolResult> CallAsync(ToolArguments args, CancellationToken ct)
    {
        args.OnlyThese("query", "top_k", "mode", "filters");
        var query = args.RequiredString("query");
        int k = args.Int("top_k", 5, 1, MaxK);
        var mode = Mode(args, rag);
        var hits = await rag.SearchAsync(query, mode, k, args.Filters("filters"), ct);
        return Result(new McpSearchResult(rag.Store.Name, query, mode.ToString().ToLowerInvariant(), [.. hits.Select(McpPassage.From)]));
    }
}

/// <summary>The <c>ask</c> tool: a grounded answer with verified citations and the cited passages.</summary>
internal sealed class AskTool(RagPipeline rag, ILogger log) : RagTool("ask", "Ask the collection",
    $"Answer a question from the RagTune collection '{rag.Store.Name}' with a local model: the answer cites numbered sources " +
    "like [1]; each sentence's citations are checked against the cited passages (supported or not), and the passages are returned. " +
    "Abstains when the collection does not hold the answer.",
    $$"""
    {
      "type": "object",
      "properties": {
        "question": {"type": "string", "description": "The question to answer."},
        "top_k": {"type": "integer", "minimum": 1, "maximum": {{SearchTool.MaxK}}, "default": 5, "description": "How many retrieved passages the model is given as sources."},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 256, "description": "Most tokens the model may generate."},
        {{ModeSchema}},
        {{FiltersSchema}}
      },
      "required": ["question"],
      "additionalProperties": false
    }
    """, log)
{
    protected override async Task<CallToolResult> CallAsync(ToolArguments args, CancellationToken ct)
    {
        args.OnlyThese("question", "top_k", "max_tokens", "mode", "filters");
        var question = args.RequiredString("question");
        int k = args.Int("top_k", 5, 1, SearchTool.MaxK);
        int maxTokens = args.Int("max_tokens", 256, 1, 4096);
        var chat = rag.Chat ?? throw new UsageException(
            "ask needs a model, and this server was started without one: restart it with --model <gguf file or name> (or --remote <url>). " +
            "The search tool works without a model.");
        var hits = await rag.SearchAsync(question, Mode(args, rag), k, args.Filters("filters"), ct);
        // Streamed like `ragtune ask`, so local and remote models are called the same way.
        GroundedAnswer? answer = null;
        await foreach (var update in new GroundedAnswerer(chat, RagPipeline.AnswerOptions(k, maxTokens)).StreamAsync(question, hits, ct))
            answer ??= update.Final;
        return Result(McpAnswer.From(question, answer ?? throw new InvalidOperationException("The answerer ended without a final answer.")));
    }
}
