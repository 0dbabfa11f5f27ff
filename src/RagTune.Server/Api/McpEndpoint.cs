using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;
using RagTune.Hosting;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Mcp;

namespace RagTune.Server.Api;

/// <summary>
/// <c>/mcp</c>: the <c>search</c> and <c>ask</c> MCP tools of <c>ragtune mcp</c> over streamable HTTP, on every
/// collection of the server (each call names one). Stateless: every request stands alone, so it passes the same API
/// key check and concurrency limit as the rest of the server and holds no stream open between calls.
/// </summary>
internal static class McpEndpoint
{
    public const string Path = "/mcp";

    public static void AddServices(IServiceCollection services, ModelRegistry models)
    {
        services.AddSingleton(sp => new CollectionTools(RagToolServer.CollectionTools(sp.GetRequiredService<CollectionService>(), id => Chat(models, id), Log(sp))));
        // The SDK collects the McpServerTool services into the server's tool collection.
        services.AddSingleton<McpServerTool>(sp => sp.GetRequiredService<CollectionTools>().Tools[0]);
        services.AddSingleton<McpServerTool>(sp => sp.GetRequiredService<CollectionTools>().Tools[1]);
        services.AddMcpServer(o =>
        {
            o.ServerInfo = RagToolServer.Info();
            o.ServerInstructions = RagToolServer.CollectionInstructions;
        }).WithHttpTransport(t => t.Stateless = true);
    }

    public static void Map(IEndpointRouteBuilder app) => app.MapMcp(Path);

    /// <summary>The search and ask tools, made once so that they share one backend.</summary>
    private sealed record CollectionTools(McpServerTool[] Tools);

    private static ILogger Log(IServiceProvider sp) => sp.GetRequiredService<ILoggerFactory>().CreateLogger("RagTune.Mcp");

    private static Microsoft.Extensions.AI.IChatClient Chat(ModelRegistry models, string id)
    {
        try
        {
            return ChatCompletionsEndpoint.ResolveModel(models, id).Client;
        }
        catch (OpenAIErrorException e)
        {
            throw HostingException.Invalid(e.Message, "model");
        }
    }
}
