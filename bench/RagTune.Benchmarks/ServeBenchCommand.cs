using System.ClientModel;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.Models.Local;
using RagTune.Server;

namespace RagTune.Benchmarks;

/// <summary>
/// <c>ragtune bench serve</c>: a bounded load test on loopback. Starts the server in-process over one model (a
/// random-weight preset by default), runs N concurrent streaming chat clients (the official OpenAI client) for the
/// duration and reports requests/s, time to first token, tokens/s and errors. The reference, measured first in the
/// same run, is the same model streamed directly through <see cref="LocalChatClient"/> by one caller: the server's
/// tokens/s is reported as a ratio of it, so the figure survives a noisy machine.
/// </summary>
internal static class ServeBenchCommand
{
    public static Command Create()
    {
        var clients = new Option<int>("--clients", "-c") { Description = "Concurrent streaming clients (1-64)", DefaultValueFactory = _ => 4 };
        var duration = new Option<int>("--duration") { Description = "Seconds of load (1-600)", DefaultValueFactory = _ => 60 };
        var model = new Option<string?>("--model", "-m") { Description = "Model file or name to serve (default: random weights at --preset)" };
        var preset = new Option<string>("--preset") { Description = "Shape of the random-weight model when no --model is given (tiny, stories260k, smollm2-135m, …)", DefaultValueFactory = _ => "tiny" };
        var type = new Option<string>("--type") { Description = "Tensor type of the random-weight model", DefaultValueFactory = _ => "q8_0" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens generated per request (1-512)", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads for the model", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var cmd = new Command("serve", "Load test of the OpenAI-compatible server on loopback: N streaming chat clients for a fixed time")
        {
            clients, duration, model, preset, type, maxTokens, threads, json,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var settings = new ServeBenchSettings(r.GetValue(clients), r.GetValue(duration), r.GetValue(model), r.GetValue(preset)!, r.GetValue(type)!,
                r.GetValue(maxTokens), r.GetValue(threads));
            var result = await RunAsync(settings, ct);
            if (r.GetValue(json)) Console.Out.WriteLine(JsonSerializer.Serialize(result, ServeBenchJson.Readable.ServeBenchResult));
            else Console.Out.WriteLine(Report(result));
            if (result.Errors == 0) return 0;
            Console.Error.WriteLine($"error: {result.Errors} of {result.Requests + result.Errors} requests failed; first: {result.FirstError}");
            return 1;
        }));
        return cmd;
    }

    internal static async Task<ServeBenchResult> RunAsync(ServeBenchSettings s, CancellationToken ct)
    {
        s.Validate();
        var temp = Path.Combine(Path.GetTempPath(), "ragtune-bench-serve-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            string path, name;
            if (s.Model != null)
            {
                path = RagTune.Models.Downloads.ModelResolver.Resolve(s.Model);
                name = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
            }
            else
            {
                Directory.CreateDirectory(temp);
                path = Path.Combine(temp, $"{s.Preset}-{s.Type}.gguf");
                RandomModelWriter.Write(ModelPresets.Get(s.Preset), GgmlTypes.Parse(s.Type), seed: 1, path);
                name = $"{s.Preset} {s.Type} (random weights)";
            }
            const string id = "bench";
            // One slot per client, so the server batches them; the single-caller reference uses one slot of it alone.
            var direct = new LocalChatClient(path, new LocalChatClientOptions { Threads = s.Threads, Slots = Math.Clamp(s.Clients, 1, 64) });
            using var models = new ModelRegistry().AddChat(id, direct);   // the registry owns and disposes it

            // Warm-up (JIT, first prefill), then the reference: the engine without HTTP, one caller.
            await DirectOnce(direct, 0, s.MaxTokens, ct);
            var referenceTime = TimeSpan.FromSeconds(Math.Clamp(s.DurationSeconds / 5.0, 1, 10));
            var reference = new LoadTally();
            var sw = Stopwatch.StartNew();
            for (int i = 0; sw.Elapsed < referenceTime; i++) reference.Add(await DirectOnce(direct, i, s.MaxTokens, ct));
            double referenceSeconds = sw.Elapsed.TotalSeconds;

            var app = RagTuneServer.Build([], new Dictionary<string, string?>
            {
                ["Server:Host"] = "127.0.0.1",   // loopback only, whatever the configuration says
                ["Server:Port"] = "0",
                ["Server:ApiKey"] = "",
                ["Server:MaxConcurrentRequests"] = s.Clients.ToString(CultureInfo.InvariantCulture),
                ["Server:QueueLimit"] = s.Clients.ToString(CultureInfo.InvariantCulture),
                ["Logging:LogLevel:Default"] = "Warning",
            }, models);
            await using (app)
            {
                await app.StartAsync(ct);
                var endpoint = new Uri(RagTuneServer.Addresses(app).Single().TrimEnd('/') + "/v1");
                var chat = new ChatClient(id, new ApiKeyCredential("bench"), new OpenAIClientOptions { Endpoint = endpoint, NetworkTimeout = TimeSpan.FromMinutes(5) });
                var warmUp = await StreamOnce(chat, 0, s.MaxTokens, ct);   // JIT of the HTTP path on both ends
                if (warmUp.Error != null) throw new IOException($"The server did not answer the warm-up request: {warmUp.Error}");
                var load = new LoadTally();
                var deadline = TimeSpan.FromSeconds(s.DurationSeconds);
                int next = 0;
                sw.Restart();
                // Each client sends its next request as soon as the previous one ends, until the deadline; requests
                // under way then are finished and counted, and the rates use the time until the last one ended.
                await Task.WhenAll(Enumerable.Range(0, s.Clients).Select(_ => Task.Run(async () =>
                {
                    while (sw.Elapsed < deadline && !ct.IsCancellationRequested)
                        load.Add(await StreamOnce(chat, Interlocked.Increment(ref next), s.MaxTokens, ct));
                }, ct)));
                double seconds = sw.Elapsed.TotalSeconds;
                await app.StopAsync(CancellationToken.None);
                return ServeBenchResult.From(s, name, Environment.ProcessorCount, load, seconds, reference, referenceSeconds);
            }
        }
        finally
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // Prompts differ per request so the engine's prompt-prefix cache does not make every request after the first cheap.
    private static string Prompt(int i) => $"Tell me story number {i} about a cat.";

    private static async Task<RequestOutcome> StreamOnce(ChatClient chat, int i, int maxTokens, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        double? ttft = null;
        int pieces = 0;
        int? tokens = null;
        try
        {
            var options = new ChatCompletionOptions { MaxOutputTokenCount = maxTokens, Temperature = 1.0f };
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(Prompt(i))], options, ct))
            {
                if (update.ContentUpdate.Any(p => p.Text.Length > 0))
                {
                    ttft ??= Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    pieces++;
                }
                if (update.Usage is { } usage) tokens = usage.OutputTokenCount;
            }
            return new RequestOutcome(ttft, Stopwatch.GetElapsedTime(started).TotalMilliseconds, tokens ?? pieces, null);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)   // any failure of a request is counted and reported, never fatal to the run
        {
            return new RequestOutcome(null, Stopwatch.GetElapsedTime(started).TotalMilliseconds, 0, e.Message);
        }
    }

    private static async Task<RequestOutcome> DirectOnce(IChatClient chat, int i, int maxTokens, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        double? ttft = null;
        long tokens = 0;
        await foreach (var update in chat.GetStreamingResponseAsync(Prompt(i), new ChatOptions { MaxOutputTokens = maxTokens, Temperature = 1.0f }, ct))
        {
            if (update.Text.Length > 0) ttft ??= Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            foreach (var content in update.Contents)
                if (content is UsageContent u) tokens = u.Details.OutputTokenCount ?? tokens;
        }
        return new RequestOutcome(ttft, Stopwatch.GetElapsedTime(started).TotalMilliseconds, (int)tokens, null);
    }

    internal static string Report(ServeBenchResult r) => string.Create(CultureInfo.InvariantCulture, $"""
        bench serve: {r.Model}, {r.Clients} streaming clients for {r.DurationSeconds} s on loopback, {r.MaxTokens} tokens per request, {r.Threads} threads, {r.Cores} cores
          requests             {r.Requests} in {r.Seconds:F1} s = {r.RequestsPerSecond:F2}/s, errors {r.Errors}
          time to first token  p50 {r.TimeToFirstTokenP50Ms:F0} ms, p95 {r.TimeToFirstTokenP95Ms:F0} ms
          request latency      p50 {r.LatencyP50Ms:F0} ms, p95 {r.LatencyP95Ms:F0} ms
          tokens/s             {r.TokensPerSecond:F1} (generated, all clients)
          reference            engine direct, one caller, {r.ReferenceRequests} requests: {r.ReferenceTokensPerSecond:F1} tokens/s, time to first token p50 {r.ReferenceTimeToFirstTokenP50Ms:F0} ms
          server / reference   tokens/s {r.TokensPerSecondRatio:F2}x, time to first token p50 {r.TimeToFirstTokenP50Ratio:F1}x
        """);
}

/// <summary>The settings of one <c>bench serve</c> run; bounded so a load test cannot run away.</summary>
internal sealed record ServeBenchSettings(int Clients, int DurationSeconds, string? Model, string Preset, string Type, int MaxTokens, int Threads)
{
    public void Validate()
    {
        if (Clients is < 1 or > 64) throw new UsageException($"--clients {Clients}: use 1 to 64.");
        if (DurationSeconds is < 1 or > 600) throw new UsageException($"--duration {DurationSeconds}: use 1 to 600 seconds.");
        if (MaxTokens is < 1 or > 512) throw new UsageException($"--max-tokens {MaxTokens}: use 1 to 512.");
        if (Threads < 0) throw new UsageException("--threads must be 0 (one per processor) or positive.");
        if (Model == null) ModelPresets.Get(Preset);
    }
}

/// <summary>One request: time to first token (null when no text came), total time, tokens generated, the error if it failed.</summary>
internal sealed record RequestOutcome(double? TimeToFirstTokenMs, double LatencyMs, int Tokens, string? Error);

/// <summary>Outcomes collected from concurrent clients.</summary>
internal sealed class LoadTally
{
    private readonly object _lock = new();
    private readonly List<RequestOutcome> _outcomes = [];

    public void Add(RequestOutcome outcome)
    {
        lock (_lock) _outcomes.Add(outcome);
    }

    public IReadOnlyList<RequestOutcome> Snapshot()
    {
        lock (_lock) return [.. _outcomes];
    }
}

/// <summary>Figures of one <c>bench serve</c> run.</summary>
internal sealed record ServeBenchResult(
    string Model, int Clients, int DurationSeconds, int MaxTokens, int Threads, int Cores, int Requests, int Errors, string? FirstError, double Seconds,
    double RequestsPerSecond, double TimeToFirstTokenP50Ms, double TimeToFirstTokenP95Ms, double LatencyP50Ms, double LatencyP95Ms, long Tokens,
    double TokensPerSecond, int ReferenceRequests, double ReferenceTokensPerSecond, double ReferenceTimeToFirstTokenP50Ms,
    double TokensPerSecondRatio, double TimeToFirstTokenP50Ratio)
{
    public static ServeBenchResult From(ServeBenchSettings s, string model, int cores, LoadTally load, double seconds, LoadTally reference, double referenceSeconds)
    {
        var all = load.Snapshot();
        var ok = all.Where(o => o.Error == null).ToList();
        var failed = all.Where(o => o.Error != null).ToList();
        var refs = reference.Snapshot();
        long tokens = ok.Sum(o => (long)o.Tokens);
        double tps = tokens / seconds, refTps = refs.Sum(o => (long)o.Tokens) / referenceSeconds;
        double ttft50 = Percentile(ok.Where(o => o.TimeToFirstTokenMs != null).Select(o => o.TimeToFirstTokenMs!.Value), 50);
        double refTtft50 = Percentile(refs.Where(o => o.TimeToFirstTokenMs != null).Select(o => o.TimeToFirstTokenMs!.Value), 50);
        return new ServeBenchResult(model, s.Clients, s.DurationSeconds, s.MaxTokens, s.Threads, cores, ok.Count, failed.Count, failed.FirstOrDefault()?.Error,
            seconds, ok.Count / seconds, ttft50, Percentile(ok.Where(o => o.TimeToFirstTokenMs != null).Select(o => o.TimeToFirstTokenMs!.Value), 95),
            Percentile(ok.Select(o => o.LatencyMs), 50), Percentile(ok.Select(o => o.LatencyMs), 95), tokens, tps,
            refs.Count, refTps, refTtft50, refTps > 0 ? tps / refTps : 0, refTtft50 > 0 ? ttft50 / refTtft50 : 0);
    }

    /// <summary>Nearest-rank percentile (0 for no values).</summary>
    internal static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0) return 0;
        int rank = (int)Math.Ceiling(p / 100 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ServeBenchResult))]
internal sealed partial class ServeBenchJson : System.Text.Json.Serialization.JsonSerializerContext
{
    private static ServeBenchJson? s_readable;

    /// <summary>The same contract with printable characters unescaped (<see cref="ReadableJson"/>); made on first use, after <c>Default</c>.</summary>
    public static ServeBenchJson Readable => s_readable ??= new(ReadableJson.Options(Default.Options));
}
