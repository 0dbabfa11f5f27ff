using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using RagTune.Server;

namespace RagTune.Cli.Commands;

/// <summary>
/// <c>ragtune serve</c>: an OpenAI-compatible HTTP server over local models. Options given here override
/// appsettings.json and <c>RAGTUNE_Server__*</c> environment variables (see <see cref="ServerOptions"/>).
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int?>("--port") { Description = "TCP port (default 8080; 0 = any free port)" };
        var host = new Option<string?>("--host") { Description = "Address to bind (default 127.0.0.1); any non-loopback address requires an API key" };
        var apiKey = new Option<string?>("--api-key") { Description = "Bearer key required on /v1 requests (prefer RAGTUNE_Server__ApiKey: command lines are visible to other users)" };
        var modelsDir = new Option<string?>("--models-dir") { Description = "Serve every *.gguf in this folder, each under its file name" };
        var model = new Option<string[]>("--model", "-m") { Description = "Model file or downloaded model name to serve (repeatable)", AllowMultipleArgumentsPerToken = false };
        var adapter = new Option<string[]>("--adapter") { Description = "LoRA adapter served as '{model}+{name}': name=folder (first model) or model=name=folder (repeatable)", AllowMultipleArgumentsPerToken = false };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file for models that carry none" };
        var threads = new Option<int?>("--threads", "-t") { Description = "Compute threads per model (0 = one per processor)" };
        var context = new Option<int?>("--context") { Description = "Context size in tokens per model (0 = model's, capped at 16384)" };
        var slots = new Option<int?>("--slots") { Description = "Requests each model generates at once, batched per step (default 4)" };
        var maxConcurrent = new Option<int?>("--max-concurrent") { Description = "Requests served at once (default 4)" };
        var queue = new Option<int?>("--queue") { Description = "Requests waiting for a slot before 429 (default 16)" };
        var logFormat = new Option<string?>("--log-format") { Description = "Console log format: simple (default) or json (structured, one object per line)" };
        var dataDir = new Option<string?>("--data-dir") { Description = "Data directory for collections, uploads and fine-tuning runs (default $RAGTUNE_DATA_DIR, else ~/.ragtune)" };
        var embedModel = new Option<string?>("--embed-model") { Description = "Local BERT-family embedding model for the RagTune API's collections (hybrid search); none = BM25 only" };
        var telemetry = new Option<string?>("--telemetry") { Description = "Traces and metrics: none (default), console (through the log) or otlp (to a collector)" };
        var otlpEndpoint = new Option<string?>("--otlp-endpoint") { Description = "OTLP collector root, e.g. http://localhost:4317 (default: OTEL_EXPORTER_OTLP_ENDPOINT, else the exporter's default)" };
        var otlpProtocol = new Option<string?>("--otlp-protocol") { Description = "OTLP transport: grpc (default) or http/protobuf" };
        var cors = new Option<string[]>("--cors-origin") { Description = "Origin allowed by CORS (repeatable; CORS is off without one)", AllowMultipleArgumentsPerToken = false };

        var cmd = new Command("serve", "Serve local models over an OpenAI-compatible HTTP API (/v1), the RagTune API (/api) and the web UI (/)")
        {
            port, host, apiKey, modelsDir, model, adapter, tokenizer, threads, context, slots, maxConcurrent, queue, cors, logFormat, telemetry, otlpEndpoint, otlpProtocol,
            dataDir, embedModel,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var settings = new Dictionary<string, string?>();
            void Set(string key, object? value)
            {
                if (value != null) settings["Server:" + key] = Convert.ToString(value, CultureInfo.InvariantCulture);
            }
            Set(nameof(ServerOptions.Port), r.GetValue(port));
            Set(nameof(ServerOptions.Host), r.GetValue(host));
            Set(nameof(ServerOptions.ApiKey), r.GetValue(apiKey));
            Set(nameof(ServerOptions.ModelsDir), r.GetValue(modelsDir));
            Set(nameof(ServerOptions.TokenizerPath), r.GetValue(tokenizer));
            Set(nameof(ServerOptions.Threads), r.GetValue(threads));
            Set(nameof(ServerOptions.ContextSize), r.GetValue(context));
            Set(nameof(ServerOptions.Slots), r.GetValue(slots));
            Set(nameof(ServerOptions.MaxConcurrentRequests), r.GetValue(maxConcurrent));
            Set(nameof(ServerOptions.QueueLimit), r.GetValue(queue));
            Set(nameof(ServerOptions.LogFormat), r.GetValue(logFormat));
            Set(nameof(ServerOptions.Telemetry), r.GetValue(telemetry));
            Set(nameof(ServerOptions.OtlpEndpoint), r.GetValue(otlpEndpoint));
            Set(nameof(ServerOptions.OtlpProtocol), r.GetValue(otlpProtocol));
            if (r.GetValue(dataDir) is { } data) settings["RagTune:DataDirectory"] = data;
            if (RagTune.Cli.Commands.Rag.RagCliOptions.StoreOf(r) is { } store) settings["RagTune:Store:ConnectionString"] = store;
            if (r.GetValue(embedModel) is { } embed) settings["RagTune:EmbeddingModel"] = embed;
            var models = r.GetValue(model) ?? [];
            for (int i = 0; i < models.Length; i++)
                Set($"{nameof(ServerOptions.Models)}:{i}", RagTune.Models.Downloads.ModelResolver.Resolve(models[i]));
            var adapters = r.GetValue(adapter) ?? [];
            for (int i = 0; i < adapters.Length; i++) Set($"{nameof(ServerOptions.Adapters)}:{i}", adapters[i]);
            var origins = r.GetValue(cors) ?? [];
            for (int i = 0; i < origins.Length; i++) Set($"{nameof(ServerOptions.CorsOrigins)}:{i}", origins[i]);

            Microsoft.AspNetCore.Builder.WebApplication app;
            try
            {
                app = RagTuneServer.Build([], settings);
            }
            catch (ServerOptionsException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
            await using (app)
            {
                await app.StartAsync(ct);
                await app.WaitForShutdownAsync(ct);
            }
            return 0;
        }));
        return cmd;
    }
}
