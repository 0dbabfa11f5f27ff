using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Pipelines;

namespace RagTune.Hosting.Mcp;

/// <summary>The tools over one opened collection and its models (<c>ragtune mcp</c>, stdio).</summary>
internal sealed class PipelineToolBackend(RagPipeline rag) : IRagToolBackend
{
    public string Scope => $"the RagTune collection '{rag.Store.Name}'";

    public string AnswerDescription => "with the server's model";

    public bool NamesCollections => false;

    public string Instructions =>
        $"Tools over the RagTune document collection '{rag.Store.Name}'. Use 'search' to find passages (with their source and span), " +
        "'ask' for an answer that cites them" + (rag.Chat == null ? " (unavailable: the server was started without a model)." : ".");

    public async Task<SearchResponse> SearchAsync(ToolRequest request, CancellationToken ct)
    {
        var mode = RagService.ParseMode(request.Mode) ?? rag.DefaultMode;
        var hits = await rag.SearchAsync(request.Text, mode, request.K, request.Filter, ct).ConfigureAwait(false);
        return new SearchResponse(rag.Store.Name, request.Text, mode.ToString().ToLowerInvariant(), rag.Results(hits));
    }

    public async Task<AskResult> AskAsync(ToolRequest request, int maxTokens, string? model, CancellationToken ct)
    {
        if (rag.Chat == null)
            throw HostingException.Invalid(
                "ask needs a model, and this server was started without one: restart it with --model <gguf file or name> (or --remote <url>). " +
                "The search tool works without a model.", "model");
        var hits = await rag.SearchAsync(request.Text, RagService.ParseMode(request.Mode), request.K, request.Filter, ct).ConfigureAwait(false);
        // Streamed like `ragtune ask`, so local and remote models are called the same way.
        AskResult? final = null;
        await foreach (var update in rag.AnswerAsync(request.Text, hits, request.K, maxTokens, ct).ConfigureAwait(false))
            final ??= update.Final;
        return final ?? throw new InvalidOperationException("The answerer ended without a final answer.");
    }
}

/// <summary>
/// The tools over a server's collections (<c>ragtune serve</c>, <c>/mcp</c>): each call names its collection and,
/// for ask, optionally a served chat model; without one the answer quotes the sources, as the server's ask API does.
/// </summary>
internal sealed class CollectionToolBackend(CollectionService collections, Func<string, IChatClient> chatModel) : IRagToolBackend
{
    public string Scope => "a RagTune collection on this server";

    public string AnswerDescription => "with a served chat model (or, without one, by quoting the sources)";

    public bool NamesCollections => true;

    public const string ServerInstructions =
        "Tools over the RagTune document collections of this server; every call names its collection. Use 'search' to find passages " +
        "(with their document and span), 'ask' for an answer that cites them.";

    public string Instructions => ServerInstructions;

    public Task<SearchResponse> SearchAsync(ToolRequest request, CancellationToken ct) =>
        collections.SearchAsync(Known(request.Collection!), request.Text, request.K, request.Mode, request.Filter, ct);

    public async Task<AskResult> AskAsync(ToolRequest request, int maxTokens, string? model, CancellationToken ct)
    {
        var name = Known(request.Collection!);
        var chat = model == null ? null : chatModel(model);
        AskResult? final = null;
        await foreach (var update in collections.AskAsync(name, request.Text, request.K, request.Mode, request.Filter, chat, model, new ChatOptions { MaxOutputTokens = maxTokens }, ct).ConfigureAwait(false))
            final ??= update.Final;
        return final ?? throw new InvalidOperationException("The answer ended without a final result.");
    }

    /// <summary>An unknown name gets the list back, so an agent can pick one.</summary>
    private string Known(string name)
    {
        var names = collections.Names();
        if (names.Contains(name, StringComparer.Ordinal)) return name;
        throw HostingException.NotFound(
            $"There is no collection '{name}'; this server holds {(names.Count == 0 ? "none yet (create one with POST /api/collections)" : string.Join(", ", names))}.", "collection");
    }
}

/// <summary>How a RagTune MCP server introduces itself, on stdio and over HTTP alike.</summary>
public static class RagToolServer
{
    /// <summary>The instructions a server over its collections (<c>/mcp</c>) gives its clients.</summary>
    public const string CollectionInstructions = CollectionToolBackend.ServerInstructions;

    /// <summary>
    /// The <c>search</c> and <c>ask</c> tools over a server's collections, sharing one backend: each call names its
    /// collection and, for ask, optionally a served chat model, which <paramref name="chatModel"/> resolves by id
    /// (throwing a <see cref="HostingException"/> for an unknown one); without one the answer quotes the sources.
    /// </summary>
    public static McpServerTool[] CollectionTools(CollectionService collections, Func<string, IChatClient> chatModel, ILogger log) =>
        RagTool.For(new CollectionToolBackend(collections, chatModel), log);

    /// <summary>The instructions a server over one opened collection (<c>ragtune mcp</c>) gives its clients; they say when ask is unavailable (no chat model).</summary>
    public static string PipelineInstructions(RagPipeline rag) => new PipelineToolBackend(rag).Instructions;

    /// <summary>The <c>search</c> and <c>ask</c> tools over one opened collection and its models (<c>ragtune mcp</c>, stdio).</summary>
    public static McpServerTool[] PipelineTools(RagPipeline rag, ILogger log) => RagTool.For(new PipelineToolBackend(rag), log);

    /// <summary>The server's name, title and version (the entry assembly's) as MCP clients see it.</summary>
    public static ModelContextProtocol.Protocol.Implementation Info()
    {
        // The product's version is the entry assembly's (the ragtune tool).
        var version = (System.Reflection.Assembly.GetEntryAssembly() ?? typeof(RagToolServer).Assembly)
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "0";
        return new() { Name = "ragtune", Title = "RagTune", Version = version.Split('+')[0] };
    }
}
