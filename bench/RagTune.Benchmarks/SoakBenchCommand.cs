using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.Models.Local;
using RagTune.Server;

namespace RagTune.Benchmarks;

/// <summary>
/// <c>ragtune bench soak</c>: the server in-process on loopback under mixed traffic for a fixed time. Each client
/// loops over a fixed cycle of what users do: streaming chat, <c>rag:</c> chat, ask, search, an upload (which
/// queues an ingestion job), polling that job and following its progress over SSE; with <c>--tuning</c> one more
/// client fine-tunes the served model (LoRA jobs back to back, each followed to its end). Reports per-kind counts and
/// p50/p95 latency, errors (any failure other than a deliberate 429 from the concurrency limit) and the process's
/// managed heap and RSS at the start, every <c>--sample</c> seconds and at the end, so a leak shows as growth that
/// keeps going and a plateau as growth that stops.
/// </summary>
internal static class SoakBenchCommand
{
    private static readonly string[] s_kinds = ["chat", "rag-chat", "ask", "search", "upload", "poll", "sse"];
    private static readonly string[] s_allKinds = [.. s_kinds, "tune"];

    public static Command Create()
    {
        var clients = new Option<int>("--clients", "-c") { Description = "Concurrent clients (1-64)", DefaultValueFactory = _ => 16 };
        var duration = new Option<int>("--duration") { Description = "Seconds of load (1-3600)", DefaultValueFactory = _ => 600 };
        var preset = new Option<string>("--preset") { Description = "Shape of the random-weight chat model", DefaultValueFactory = _ => "smollm2-135m" };
        var type = new Option<string>("--type") { Description = "Tensor type of the random-weight model", DefaultValueFactory = _ => "q8_0" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens generated per chat or ask (1-512)", DefaultValueFactory = _ => 16 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads for the model", DefaultValueFactory = _ => 2 };
        var tuning = new Option<bool>("--tuning") { Description = "One more client fine-tunes the model (LoRA jobs back to back) during the soak" };
        var sample = new Option<int>("--sample") { Description = "Seconds between memory samples (10-3600)", DefaultValueFactory = _ => 60 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var cmd = new Command("soak", "Mixed traffic (chat, rag: chat, ask, search, uploads, job polling, SSE) against the server on loopback for a fixed time")
        {
            clients, duration, preset, type, maxTokens, threads, tuning, sample, json,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            int c = r.GetValue(clients), d = r.GetValue(duration), m = r.GetValue(maxTokens);
            if (c is < 1 or > 64) throw new UsageException($"--clients {c} must be 1-64.");
            if (d is < 1 or > 3600) throw new UsageException($"--duration {d} must be 1-3600 seconds.");
            if (m is < 1 or > 512) throw new UsageException($"--max-tokens {m} must be 1-512.");
            int every = r.GetValue(sample);
            if (every is < 10 or > 3600) throw new UsageException($"--sample {every} must be 10-3600 seconds.");
            var result = await RunAsync(c, d, r.GetValue(preset)!, r.GetValue(type)!, m, r.GetValue(threads), r.GetValue(tuning), every, ct);
            if (r.GetValue(json)) Console.Out.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Console.Out.WriteLine(Report(result));
            int errors = result["errors"]!.GetValue<int>();
            if (errors == 0) return 0;
            Console.Error.WriteLine($"error: {errors} requests failed; first: {result["firstError"]}");
            return 1;
        }));
        return cmd;
    }

    private sealed class Tally
    {
        private readonly object _lock = new();
        private readonly Dictionary<string, List<double>> _ms = s_allKinds.ToDictionary(k => k, _ => new List<double>());
        public int Errors, Throttled;
        public string? FirstError;

        public void Ok(string kind, double ms)
        {
            lock (_lock) _ms[kind].Add(ms);
        }

        public void Fail(string kind, string error)
        {
            lock (_lock)
            {
                Errors++;
                FirstError ??= $"{kind}: {error}";
            }
        }

        public System.Text.Json.Nodes.JsonObject Kinds()
        {
            var o = new System.Text.Json.Nodes.JsonObject();
            lock (_lock)
                foreach (var (kind, ms) in _ms)
                {
                    ms.Sort();
                    o[kind] = new System.Text.Json.Nodes.JsonObject
                    {
                        ["count"] = ms.Count,
                        ["p50Ms"] = ms.Count == 0 ? 0 : Math.Round(ms[(ms.Count - 1) / 2], 1),
                        ["p95Ms"] = ms.Count == 0 ? 0 : Math.Round(ms[(int)Math.Ceiling(0.95 * ms.Count) - 1], 1),
                    };
                }
            return o;
        }
    }

    private static (long Heap, long Rss) Memory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var p = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), p.WorkingSet64);
    }

    private static async Task<System.Text.Json.Nodes.JsonObject> RunAsync(int clients, int seconds, string preset, string type, int maxTokens, int threads,
        bool tuning, int sampleSeconds, CancellationToken ct)
    {
        var temp = Path.Combine(Path.GetTempPath(), "ragtune-bench-soak-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(temp);
        try
        {
            var path = Path.Combine(temp, $"{preset}-{type}.gguf");
            RandomModelWriter.Write(ModelPresets.Get(preset), GgmlTypes.Parse(type), seed: 1, path);
            const string id = "soak";
            using var models = new ModelRegistry().AddChat(id, new LocalChatClient(path, new LocalChatClientOptions { Threads = threads, Slots = 4 }), modelPath: path);
            var app = RagTuneServer.Build([], new Dictionary<string, string?>
            {
                ["Server:Host"] = "127.0.0.1",
                ["Server:Port"] = "0",
                ["Server:ApiKey"] = "",
                ["RagTune:DataDirectory"] = Path.Combine(temp, "data"),
                ["Logging:LogLevel:Default"] = "Warning",
                // Failed model calls are counted and the first one is reported; their log lines would bury the figures.
                ["Logging:LogLevel:Microsoft.Extensions.AI"] = "None",
            }, models);
            await using (app)
            {
                await app.StartAsync(ct);
                using var http = new HttpClient { BaseAddress = new Uri(RagTuneServer.Addresses(app).Single()), Timeout = TimeSpan.FromMinutes(5) };
                await Check(await http.PostAsJsonAsync("/api/collections", new { name = "docs" }, ct));
                var seed = await Upload(http, "seed", 0, ct);
                await FollowAsync(http, seed, sse: false, ct);
                // Warm-up: the first chat and RAG answers allocate the KV caches and JIT the paths; memory is compared from here.
                await ChatAsync(http, id, -1, maxTokens, ct);
                await ChatAsync(http, "rag:docs", -2, maxTokens, ct);
                var start = Memory();
                var tally = new Tally();
                var sw = Stopwatch.StartNew();
                var deadline = TimeSpan.FromSeconds(seconds);
                var samples = new System.Text.Json.Nodes.JsonArray();
                using var stopSampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var sampler = Task.Run(async () =>
                {
                    try
                    {
                        while (true)
                        {
                            await Task.Delay(TimeSpan.FromSeconds(sampleSeconds), stopSampling.Token);
                            var (heap, rss) = Memory();
                            lock (samples) samples.Add(new System.Text.Json.Nodes.JsonObject
                            {
                                ["seconds"] = Math.Round(sw.Elapsed.TotalSeconds), ["heapMiB"] = Math.Round(heap / 1048576.0, 1), ["rssMiB"] = Math.Round(rss / 1048576.0, 1),
                            });
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }, CancellationToken.None);
                var tuner = tuning ? Task.Run(() => TuneLoopAsync(http, id, tally, sw, deadline, ct), ct) : Task.CompletedTask;
                await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
                {
                    string? job = null;
                    for (int i = 0; sw.Elapsed < deadline && !ct.IsCancellationRequested; i++)
                    {
                        var kind = s_kinds[(client + i) % s_kinds.Length];
                        var t = Stopwatch.GetTimestamp();
                        try
                        {
                            switch (kind)
                            {
                                case "chat": await ChatAsync(http, id, client * 100_000 + i, maxTokens, ct); break;
                                case "rag-chat": await ChatAsync(http, "rag:docs", client * 100_000 + i, maxTokens, ct); break;
                                case "ask": await Check(await http.PostAsJsonAsync("/api/collections/docs/ask", new { question = $"Where does baker {i % 50} live?", model = id, maxTokens, k = 3 }, ct)); break;
                                case "search": await Check(await http.PostAsJsonAsync("/api/collections/docs/search", new { query = $"baker {i % 50} mill", k = 10 }, ct)); break;
                                case "upload": job = await Upload(http, $"c{client}", i, ct); break;
                                case "poll": if (job != null) await Check(await http.GetAsync($"/api/jobs/{job}", ct)); break;
                                default: if (job != null) await FollowAsync(http, job, sse: true, ct); break;
                            }
                            tally.Ok(kind, Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                        }
                        catch (ThrottledException)
                        {
                            Interlocked.Increment(ref tally.Throttled);
                            await Task.Delay(50, ct);
                        }
                        catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException or JsonException or KeyNotFoundException or TaskCanceledException && !ct.IsCancellationRequested)
                        {
                            tally.Fail(kind, e.Message);
                        }
                    }
                }, ct)));
                await tuner;
                double elapsed = sw.Elapsed.TotalSeconds;
                await stopSampling.CancelAsync();
                await sampler;
                var end = Memory();
                await app.StopAsync(CancellationToken.None);
                return new System.Text.Json.Nodes.JsonObject
                {
                    ["model"] = $"{preset} {type} (random weights)", ["clients"] = clients, ["seconds"] = Math.Round(elapsed, 1),
                    ["cores"] = Environment.ProcessorCount, ["errors"] = tally.Errors, ["throttled429"] = tally.Throttled, ["firstError"] = tally.FirstError,
                    ["heapStartMiB"] = Math.Round(start.Heap / 1048576.0, 1), ["heapEndMiB"] = Math.Round(end.Heap / 1048576.0, 1),
                    ["rssStartMiB"] = Math.Round(start.Rss / 1048576.0, 1), ["rssEndMiB"] = Math.Round(end.Rss / 1048576.0, 1),
                    ["kinds"] = tally.Kinds(), ["memory"] = samples,
                };
            }
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // A user fine-tuning the served model while others use it: small LoRA jobs (4 steps on 8 inline examples) back to
    // back, each followed to its end; a job's whole duration is its latency.
    private static async Task TuneLoopAsync(HttpClient http, string model, Tally tally, Stopwatch sw, TimeSpan deadline, CancellationToken ct)
    {
        for (int i = 0; sw.Elapsed < deadline && !ct.IsCancellationRequested; i++)
        {
            var t = Stopwatch.GetTimestamp();
            try
            {
                var body = new
                {
                    model,
                    examples = Enumerable.Range(0, 8).Select(e => new { instruction = $"Where does baker {(i + e) % 50} live?", output = $"Baker {(i + e) % 50} lives by the mill." }),
                    steps = 4, batchSize = 2, gradAccum = 1, seqLen = 48, evalEvery = 2, validationSplit = 0.25, learningRate = 1e-3, seed = i,
                };
                using var r = await http.PostAsJsonAsync("/api/tune", body, ct);
                if (r.StatusCode == HttpStatusCode.TooManyRequests) throw new ThrottledException();
                var text = await r.Content.ReadAsStringAsync(ct);
                if (!r.IsSuccessStatusCode) throw new InvalidDataException($"tune: {(int)r.StatusCode} {text[..Math.Min(text.Length, 300)]}");
                using var doc = JsonDocument.Parse(text);
                await FollowAsync(http, doc.RootElement.GetProperty("id").GetString()!, sse: false, ct);
                tally.Ok("tune", Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            catch (ThrottledException)
            {
                Interlocked.Increment(ref tally.Throttled);
                await Task.Delay(50, ct);
            }
            catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException or JsonException or KeyNotFoundException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                tally.Fail("tune", e.Message);
            }
        }
    }

    /// <summary>A 429 from the server's concurrency limit: deliberate, counted apart from errors.</summary>
    private sealed class ThrottledException : Exception;

    private static async Task Check(HttpResponseMessage r)
    {
        using (r)
        {
            if (r.StatusCode == HttpStatusCode.TooManyRequests) throw new ThrottledException();
            var body = await r.Content.ReadAsStringAsync();
            if (!r.IsSuccessStatusCode) throw new InvalidDataException($"{(int)r.StatusCode} {body[..Math.Min(body.Length, 300)]}");
        }
    }

    private static async Task ChatAsync(HttpClient http, string model, int i, int maxTokens, CancellationToken ct)
    {
        var body = JsonSerializer.Serialize(new { model, stream = true, max_tokens = maxTokens, messages = new[] { new { role = "user", content = $"Where does baker {i % 50} live? Story {i}." } } });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var r = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (r.StatusCode == HttpStatusCode.TooManyRequests) throw new ThrottledException();
        if (!r.IsSuccessStatusCode) throw new InvalidDataException($"{(int)r.StatusCode} {await r.Content.ReadAsStringAsync(ct)}");
        using var reader = new StreamReader(await r.Content.ReadAsStreamAsync(ct));
        bool done = false;
        while (await reader.ReadLineAsync(ct) is { } line)
            if (line == "data: [DONE]") done = true;
        if (!done) throw new InvalidDataException("the stream ended without [DONE]");
    }

    /// <summary>Uploads one small document into the collection; returns the ingestion job's id.</summary>
    private static async Task<string> Upload(HttpClient http, string prefix, int i, CancellationToken ct)
    {
        var form = new MultipartFormDataContent();
        var text = $"# Baker {i % 50}\n\nBaker {i % 50} of {prefix} lives by the mill on the river and bakes rye bread at dawn ({i}).\n";
        var part = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        part.Headers.Add("Content-Disposition", $"form-data; name=\"file\"; filename=\"{prefix}-{i % 20}.md\"");
        form.Add(part);
        using var r = await http.PostAsync("/api/collections/docs/documents", form, ct);
        if (r.StatusCode == HttpStatusCode.TooManyRequests) throw new ThrottledException();
        var body = await r.Content.ReadAsStringAsync(ct);
        if (!r.IsSuccessStatusCode) throw new InvalidDataException($"{(int)r.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("job").GetProperty("id").GetString()!;
    }

    /// <summary>Waits for a job to end, by polling or by following its SSE progress; a failed job is an error.</summary>
    private static async Task FollowAsync(HttpClient http, string job, bool sse, CancellationToken ct)
    {
        if (sse)
        {
            using var r = await http.GetAsync($"/api/jobs/{job}/events", HttpCompletionOption.ResponseHeadersRead, ct);
            if (r.StatusCode == HttpStatusCode.TooManyRequests) throw new ThrottledException();
            if (!r.IsSuccessStatusCode) throw new InvalidDataException($"events: {(int)r.StatusCode}");
            using var reader = new StreamReader(await r.Content.ReadAsStreamAsync(ct));
            while (await reader.ReadLineAsync(ct) is not null) { } // the server ends the stream when the job ends
        }
        for (var deadline = DateTime.UtcNow.AddMinutes(2); ; await Task.Delay(100, ct))
        {
            using var r = await http.GetAsync($"/api/jobs/{job}", ct);
            if (r.StatusCode == HttpStatusCode.TooManyRequests) continue;
            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync(ct));
            var state = doc.RootElement.GetProperty("state").GetString();
            if (state == "succeeded") return;
            if (state is "failed" or "cancelled") throw new InvalidDataException($"job {job} {state}: {doc.RootElement.GetProperty("error")}");
            if (DateTime.UtcNow > deadline) throw new InvalidDataException($"job {job} still {state} after 2 minutes");
        }
    }

    private static string Report(System.Text.Json.Nodes.JsonObject r)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{r["clients"]} clients for {r["seconds"]} s on {r["model"]} ({r["cores"]} cores): {r["errors"]} errors, {r["throttled429"]} deliberate 429s\n");
        sb.Append(CultureInfo.InvariantCulture, $"managed heap {r["heapStartMiB"]} → {r["heapEndMiB"]} MiB, RSS {r["rssStartMiB"]} → {r["rssEndMiB"]} MiB\n");
        foreach (var (kind, v) in r["kinds"]!.AsObject())
            if (v!["count"]!.GetValue<int>() > 0 || kind != "tune")
                sb.Append(CultureInfo.InvariantCulture, $"  {kind,-9} {v["count"],6} requests  p50 {v["p50Ms"],8} ms  p95 {v["p95Ms"],8} ms\n");
        foreach (var m in r["memory"]!.AsArray())
            sb.Append(CultureInfo.InvariantCulture, $"  at {m!["seconds"],5} s: managed heap {m["heapMiB"]} MiB, RSS {m["rssMiB"]} MiB\n");
        return sb.ToString().TrimEnd();
    }
}
