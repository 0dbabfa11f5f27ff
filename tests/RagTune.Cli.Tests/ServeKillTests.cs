using System.Net;
using System.Text;
using System.Text.Json;
using RagTune.TestKit;
using static RagTune.Cli.Tests.ServeCommandTests;

namespace RagTune.Cli.Tests;

/// <summary>
/// <c>ragtune serve</c> killed with SIGKILL while it writes <c>served-adapters.json</c> (adapters being served one
/// after another) and while a fine-tuning job runs: after each restart every adapter the server acknowledged is
/// served again, the file is readable, and the running job is listed as interrupted. Seeded kill moments; counts in
/// docs/reliability.md.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ServeKillTests
{
    private const int Kills = 3;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> FinalAsync(HttpClient http, string id, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            using var j = JsonDocument.Parse(await http.GetStringAsync($"/api/jobs/{id}"));
            if (j.RootElement.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled") return j.RootElement.Clone();
            Assert.True(DateTime.UtcNow < deadline, $"job {id} did not finish: {j.RootElement}");
            await Task.Delay(100);
        }
    }

    private static async Task<string> StartTuneAsync(HttpClient http, int steps)
    {
        var tune = await http.PostAsync("/api/tune", Json($"{{\"model\":\"stories260K\",\"dataset\":\"train.jsonl\",\"steps\":{steps},\"evalEvery\":1000}}"));
        Assert.True(tune.StatusCode == HttpStatusCode.Accepted, await tune.Content.ReadAsStringAsync());
        using var t = JsonDocument.Parse(await tune.Content.ReadAsStringAsync());
        return t.RootElement.GetProperty("id").GetString()!;
    }

    private static async Task<HashSet<string>> ModelIdsAsync(HttpClient http)
    {
        using var models = JsonDocument.Parse(await http.GetStringAsync("/v1/models"));
        return [.. models.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!)];
    }

    [Fact]
    public async Task Killed_while_serving_adapters_and_training_it_keeps_every_acknowledged_adapter_and_lists_the_job_as_interrupted()
    {
        int port = FreePort();
        using var dir = new TempDir();
        string data = dir.File("data");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        var random = new Random(60);
        var acknowledged = new HashSet<string>();
        string? tuned = null, interruptedJob = null;
        int next = 0;
        for (int kill = 0; kill <= Kills; kill++)
        {
            using var server = StartServer(port, data);
            try
            {
                await WaitHealthyAsync(http, server);
                // After a restart: every acknowledged adapter is served again, and the job that ran is interrupted.
                var ids = await ModelIdsAsync(http);
                foreach (var name in acknowledged) Assert.Contains($"stories260K+{name}", ids);
                if (interruptedJob != null)
                {
                    var job = await FinalAsync(http, interruptedJob, TimeSpan.FromSeconds(5));
                    Assert.Equal("failed", job.GetProperty("state").GetString());
                    Assert.StartsWith("Interrupted: the server stopped while this job was running.", job.GetProperty("error").GetString());
                }
                if (acknowledged.Count > 0)
                    using (JsonDocument.Parse(File.ReadAllText(Path.Combine(data, "served-adapters.json")))) { } // whole JSON, never half-written
                if (kill == Kills) break;

                if (tuned == null)
                {
                    var dataset = new MultipartFormDataContent();
                    var rows = new ByteArrayContent(Encoding.UTF8.GetBytes(string.Join('\n', Enumerable.Range(0, 8).Select(i => $"{{\"instruction\":\"Say {i}.\",\"output\":\"{i} it is.\"}}"))));
                    rows.Headers.Add("Content-Disposition", "form-data; name=\"file\"; filename=\"train.jsonl\"");
                    dataset.Add(rows);
                    Assert.Equal(HttpStatusCode.Created, (await http.PostAsync("/api/datasets", dataset)).StatusCode);
                    tuned = await StartTuneAsync(http, steps: 2);
                    Assert.Equal("succeeded", (await FinalAsync(http, tuned, TimeSpan.FromSeconds(120))).GetProperty("state").GetString());
                    // The first round writes the file before any kill, so every restart reads one.
                    var first = await http.PostAsync($"/api/tune/{tuned}/serve", Json($"{{\"name\":\"a{next}\"}}"));
                    Assert.Equal(HttpStatusCode.Created, first.StatusCode);
                    acknowledged.Add($"a{next++}");
                }

                // A long fine-tuning job running, and adapters served one after another until the kill.
                interruptedJob = await StartTuneAsync(http, steps: 100_000);
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (true)
                {
                    using var j = JsonDocument.Parse(await http.GetStringAsync($"/api/jobs/{interruptedJob}"));
                    if (j.RootElement.GetProperty("state").GetString() == "running" && j.RootElement.GetProperty("done").GetInt32() > 0) break;
                    Assert.True(DateTime.UtcNow < deadline, $"the fine-tuning job did not start: {j.RootElement}");
                    await Task.Delay(20);
                }
                int serveBeforeKill = random.Next(2, 8);
                using var stop = new CancellationTokenSource();
                string? refused = null;
                var serving = Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        var name = $"a{Interlocked.Increment(ref next) - 1}";
                        try
                        {
                            var r = await http.PostAsync($"/api/tune/{tuned}/serve", Json($"{{\"name\":\"{name}\"}}"), stop.Token);
                            if (r.StatusCode != HttpStatusCode.Created)
                            {
                                refused = $"serving {name}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}";
                                return;
                            }
                            lock (acknowledged) acknowledged.Add(name);
                        }
                        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                        {
                            return; // the kill
                        }
                    }
                });
                int target;
                lock (acknowledged) target = acknowledged.Count + serveBeforeKill;
                while (true)
                {
                    lock (acknowledged) if (acknowledged.Count >= target) break;
                    Assert.False(serving.IsCompleted, refused ?? "serving stopped before the kill");
                    Assert.True(DateTime.UtcNow < deadline.AddSeconds(60), "adapters were not served within 60 s");
                    await Task.Delay(1);
                }
                await Task.Delay(random.Next(0, 30)); // land inside a later request's write
                server.Kill(entireProcessTree: true);
                server.WaitForExit(10_000);
                stop.Cancel();
                await serving;
            }
            finally
            {
                if (!server.HasExited)
                {
                    server.Kill(entireProcessTree: true);
                    server.WaitForExit(10_000);
                }
            }
        }
        Assert.True(acknowledged.Count > Kills * 2, $"only {acknowledged.Count} adapters were acknowledged");
    }
}
