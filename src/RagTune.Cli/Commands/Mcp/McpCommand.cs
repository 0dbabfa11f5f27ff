using System.CommandLine;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using RagTune.Cli.Commands.Rag;
using RagTune.Hosting.Mcp;
using RagTune.Hosting.Pipelines;

namespace RagTune.Cli.Commands.Mcp;

/// <summary>
/// <c>ragtune mcp</c>: a Model Context Protocol server over stdio exposing a collection's <c>search</c> and
/// <c>ask</c> tools to coding assistants and agents. Standard output carries only the protocol; logs go to stderr.
/// </summary>
internal static class McpCommand
{
    public static Command Create()
    {
        var collection = RagCliOptions.Collection(required: false);
        var dataDir = RagCliOptions.DataDir();
        var db = new Option<string?>("--db") { Description = "A collection's SQLite file, opened directly (instead of --collection under --data-dir)" };
        var model = new Option<string?>("--model", "-m") { Description = "Local model for the ask tool: GGUF, llama2.c .bin, Hugging Face folder, or catalog/cache name (without one, ask reports that it needs one)" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file when the model has none (llama2.c)" };
        var adapter = AdapterOption.Create();
        var remote = new Option<string?>("--remote") { Description = "OpenAI-compatible server for the ask tool instead of --model, e.g. http://127.0.0.1:8080/v1" };
        var remoteModel = new Option<string>("--remote-model") { Description = "Model name on --remote", DefaultValueFactory = _ => "default" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads for --model (0 = one per processor)" };
        var embedRemote = RagCliOptions.EmbedRemote();
        var embedModel = RagCliOptions.EmbedModel();
        var rerank = RagCliOptions.Rerank();
        var rerankTop = RagCliOptions.RerankTop();
        var denseAgreement = RagCliOptions.DenseAgreement();
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Least severe log written to stderr", DefaultValueFactory = _ => LogLevel.Warning };
        var cmd = new Command("mcp", "Serve a collection's search and ask tools over MCP (stdio) for coding assistants and agents")
        {
            collection, dataDir, db, model, tokenizer, adapter, remote, remoteModel, threads, embedRemote, embedModel, rerank, rerankTop, denseAgreement, logLevel,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            // The protocol owns stdout: anything else printed there (a stray Console.Write in a dependency) would
            // corrupt the JSON-RPC stream, so the console writer goes to stderr; the transport writes the raw stream.
            Console.SetOut(Console.Error);
            using var loggers = LoggerFactory.Create(b => b
                .SetMinimumLevel(r.GetValue(logLevel))
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                .AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; }));
            var log = loggers.CreateLogger("RagTune.Mcp");

            using var rag = RagPipeline.Open(new RagPipelineOptions
            {
                ApiKey = RagCliOptions.ApiKey(),
                Collection = r.GetValue(collection), DataDir = r.GetValue(dataDir), Store = RagCliOptions.StoreOf(r), DbFile = r.GetValue(db),
                EmbedRemote = r.GetValue(embedRemote), EmbedModel = r.GetValue(embedModel), Rerank = r.GetValue(rerank), RerankTop = r.GetValue(rerankTop), DenseAgreementDepth = r.GetValue(denseAgreement),
                Model = r.GetValue(model), Tokenizer = r.GetValue(tokenizer), Adapter = r.GetValue(adapter), Remote = r.GetValue(remote), RemoteModel = r.GetValue(remoteModel)!,
                Threads = r.GetValue(threads),
            }, withChat: true);
            var options = ServerOptions(rag, log);
            await using var transport = new StdioServerTransport(options, loggers);
            await using var server = McpServer.Create(transport, options, loggers);
            log.LogInformation("MCP server for collection {Collection} ({File}); ask {AskState}", rag.Store.Name, rag.Location,
                rag.Chat == null ? "unavailable (no --model)" : "available");
            await server.RunAsync(ct);
            return 0;
        }));
        return cmd;
    }

    internal static McpServerOptions ServerOptions(RagPipeline rag, ILogger log)
    {
        return new McpServerOptions
        {
            ServerInfo = RagToolServer.Info(),
            ServerInstructions = RagToolServer.PipelineInstructions(rag),
            ToolCollection = [.. RagToolServer.PipelineTools(rag, log)],
        };
    }
}
