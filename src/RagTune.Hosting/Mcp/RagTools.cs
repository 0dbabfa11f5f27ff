using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using RagTune.Hosting.Collections;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Mcp;

/// <summary>
/// A RagTune MCP tool with a hand-written JSON schema (so the schema clients see is exactly the one documented) and
/// one error policy: a problem the caller can fix comes back as a tool error (<c>isError: true</c>) whose text says
/// what to change, so an agent can correct its call; anything else is logged and reported the same way. The same
/// tools serve <c>ragtune mcp</c> (stdio, one collection) and <c>ragtune serve</c> (<c>/mcp</c>, every collection).
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

    /// <summary>Both tools over <paramref name="backend"/>.</summary>
    public static McpServerTool[] For(IRagToolBackend backend, ILogger log) => [new SearchTool(backend, log), new AskTool(backend, log)];

    public sealed override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        try
        {
            return await CallAsync(new ToolArguments(name, request.Params?.Arguments), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ToolArgumentException or HostingException or ArgumentException or IOException or RagTune.Models.Local.ContextLengthExceededException)
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

    /// <summary>The request's common arguments: collection (when the backend names collections), mode, filters.</summary>
    protected static ToolRequest Request(IRagToolBackend backend, ToolArguments args, string query, int k) => new(
        backend.NamesCollections ? args.RequiredString("collection") : null, query, args.OptionalEnum("mode", s_modes), k, args.Filters("filters"));

    /// <summary>The schema's properties every tool shares: the collection (on the server), mode and filters.</summary>
    protected static string CommonSchema(IRagToolBackend backend) =>
        (backend.NamesCollections
            ? """
              "collection": {"type": "string", "description": "The collection to use (the server holds several; a wrong name gets the list back)."},
              """
            : "") + """
        "mode": {"type": "string", "enum": ["bm25", "dense", "hybrid"], "description": "Retrieval: keyword (bm25), embedding (dense) or both fused (hybrid). Default: hybrid when the server has an embedding model, else bm25."},
        "filters": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Metadata equality conditions that must all hold, e.g. {\"ext\": \"md\"}."}
        """;

    /// <summary>The schema's required list: the tool's own argument, and the collection on the server.</summary>
    protected static string Required(IRagToolBackend backend, string argument) =>
        backend.NamesCollections ? $"[\"{argument}\", \"collection\"]" : $"[\"{argument}\"]";

    /// <summary>Arguments every tool takes besides its own.</summary>
    protected static string[] CommonArguments(IRagToolBackend backend) =>
        backend.NamesCollections ? ["collection", "mode", "filters"] : ["mode", "filters"];
}

/// <summary>The <c>search</c> tool: ranked passages from the collection.</summary>
internal sealed class SearchTool(IRagToolBackend backend, ILogger log) : RagTool("search", "Search the collection",
    $"Search {backend.Scope} and return the best passages, each with its document, source, title, " +
    "heading path, pages (PDF), score and character span in the document.",
    $$"""
    {
      "type": "object",
      "properties": {
        "query": {"type": "string", "description": "What to search for: keywords or a question."},
        "top_k": {"type": "integer", "minimum": 1, "maximum": {{MaxK}}, "default": 5, "description": "How many passages to return."},
        {{CommonSchema(backend)}}
      },
      "required": {{Required(backend, "query")}},
      "additionalProperties": false
    }
    """, log)
{
    public const int MaxK = 50;

    protected override async Task<CallToolResult> CallAsync(ToolArguments args, CancellationToken ct)
    {
        args.OnlyThese(["query", "top_k", .. CommonArguments(backend)]);
        var query = args.RequiredString("query");
        int k = args.Int("top_k", 5, 1, MaxK);
        return Result(await backend.SearchAsync(Request(backend, args, query, k), ct).ConfigureAwait(false));
    }
}

/// <summary>The <c>ask</c> tool: a grounded answer with verified citations and the cited passages.</summary>
internal sealed class AskTool(IRagToolBackend backend, ILogger log) : RagTool("ask", "Ask the collection",
    $"Answer a question from {backend.Scope} {backend.AnswerDescription}: the answer cites numbered sources " +
    "like [1]; each sentence's citations are checked against the cited passages (supported or not), and the passages are returned. " +
    "Abstains when the collection does not hold the answer.",
    $$"""
    {
      "type": "object",
      "properties": {
        "question": {"type": "string", "description": "The question to answer."},
        "top_k": {"type": "integer", "minimum": 1, "maximum": {{SearchTool.MaxK}}, "default": 5, "description": "How many retrieved passages the model is given as sources."},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 256, "description": "Most tokens the model may generate."},
        {{(backend.NamesCollections ? "\"model\": {\"type\": \"string\", \"description\": \"A served chat model's id (see /v1/models); without one the answer quotes the sources (extractive).\"}," : "")}}
        {{CommonSchema(backend)}}
      },
      "required": {{Required(backend, "question")}},
      "additionalProperties": false
    }
    """, log)
{
    protected override async Task<CallToolResult> CallAsync(ToolArguments args, CancellationToken ct)
    {
        args.OnlyThese(["question", "top_k", "max_tokens", .. (backend.NamesCollections ? (string[])["model"] : []), .. CommonArguments(backend)]);
        var question = args.RequiredString("question");
        int k = args.Int("top_k", 5, 1, SearchTool.MaxK);
        int maxTokens = args.Int("max_tokens", 256, 1, 4096);
        var model = backend.NamesCollections ? args.OptionalString("model") : null;
        return Result(await backend.AskAsync(Request(backend, args, question, k), maxTokens, model, ct).ConfigureAwait(false));
    }
}

/// <summary>A search or ask request as the tools pass it on: <see cref="Collection"/> is null for a one-collection backend; <see cref="Mode"/> null for the default.</summary>
internal sealed record ToolRequest(string? Collection, string Text, string? Mode, int K, SearchFilter Filter);

/// <summary>What the MCP tools search and answer from: one opened collection (stdio) or a server's collections.</summary>
internal interface IRagToolBackend
{
    /// <summary>What the tools work on, for their descriptions: "the RagTune collection 'kb'".</summary>
    string Scope { get; }

    /// <summary>How ask answers, for its description: "with a local model".</summary>
    string AnswerDescription { get; }

    /// <summary>True when the tools take a <c>collection</c> argument (and ask a <c>model</c>).</summary>
    bool NamesCollections { get; }

    /// <summary>The server's instructions to clients.</summary>
    string Instructions { get; }

    Task<SearchResponse> SearchAsync(ToolRequest request, CancellationToken ct);

    /// <summary>A verified answer; <paramref name="model"/> names a served chat model where the backend serves several.</summary>
    Task<AskResult> AskAsync(ToolRequest request, int maxTokens, string? model, CancellationToken ct);
}
