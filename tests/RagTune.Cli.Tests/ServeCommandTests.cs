using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using RagTune.TestKit;

namespace RagTune.Cli.Tests;

public sealed class ServeCommandTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Serve_answers_on_loopback_and_chat_remote_talks_to_it()
    {
        int port = FreePort();
        using var data = new TempDir();
        using var server = StartServer(port, data.Path);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            await WaitHealthyAsync(http, server);
            using var models = JsonDocument.Parse(await http.GetStringAsync("/v1/models"));
            Assert.Equal("stories260K", models.RootElement.GetProperty("data")[0].GetProperty("id").GetString());

            var chat = CliProcess.RunWithInput(TimeSpan.FromSeconds(60), "Once upon a time\n/exit\n",
                "chat", "--remote", $"http://127.0.0.1:{port}/v1", "--temperature", "0", "-n", "8");
            Assert.True(chat.ExitCode == 0, chat.Stderr);
            Assert.False(string.IsNullOrWhiteSpace(chat.Stdout));

            // The RagTune API keeps its collections in --data-dir.
            var created = await http.PostAsync("/api/collections", new StringContent("{\"name\":\"docs\"}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.True(File.Exists(Path.Combine(data.Path, "collections", "docs.db")));
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(10_000);
        }
    }

    [Fact]
    public void Serving_beyond_loopback_without_an_api_key_is_refused()
    {
        var r = CliProcess.Run(TimeSpan.FromSeconds(60), "serve", "-m", Stories, "--host", "0.0.0.0", "--port", FreePort().ToString());
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("API key", r.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    internal static Process StartServer(int port, string data, params string[] extra)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"), "serve", "-m", Stories, "--port", port.ToString(), "--threads", "1", "--data-dir", data })
            psi.ArgumentList.Add(a);
        foreach (var a in extra) psi.ArgumentList.Add(a);
        var server = Process.Start(psi)!;
        _ = server.StandardOutput.ReadToEndAsync();
        _ = server.StandardError.ReadToEndAsync();
        return server;
    }

    internal static async Task WaitHealthyAsync(HttpClient http, Process server)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await http.GetAsync("/health")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            Assert.False(server.HasExited, "the server exited during start-up");
            Assert.True(DateTime.UtcNow < deadline, "the server did not become healthy within 60 s");
            await Task.Delay(250);
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task A_server_killed_mid_ingestion_keeps_what_it_acknowledged_and_lists_its_jobs_as_interrupted()
    {
        int port = FreePort();
        using var dir = new TempDir();
        string data = dir.File("data"), encoder = dir.File("encoder");
        Assert.Equal(0, CliProcess.Run("embed", "create-random", "--preset", "tiny", "--seed", "1", "--out", encoder).ExitCode);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        string ingestId, tuneId;
        using (var server = StartServer(port, data, "--embed-model", encoder))
        {
            try
            {
                await WaitHealthyAsync(http, server);
                Assert.Equal(HttpStatusCode.Created, (await http.PostAsync("/api/collections", new StringContent("{\"name\":\"docs\"}", System.Text.Encoding.UTF8, "application/json"))).StatusCode);
                var form = new MultipartFormDataContent();
                for (int d = 0; d < 64; d++) // the most one request may carry
                {
                    var part = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes($"# Document {d}\n\n" + string.Join(' ', Enumerable.Range(0, 1500).Select(w => $"w{(d * 13 + w) % 997}")) + "\n"));
                    part.Headers.Add("Content-Disposition", $"form-data; name=\"file\"; filename=\"doc{d:D3}.md\"");
                    form.Add(part);
                }
                var uploaded = await http.PostAsync("/api/collections/docs/documents", form);
                Assert.True(uploaded.StatusCode == HttpStatusCode.Accepted, await uploaded.Content.ReadAsStringAsync());
                using (var u = JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync()))
                    ingestId = u.RootElement.GetProperty("job").GetProperty("id").GetString()!;
                // A fine-tuning job queued behind the ingestion (one job runs at a time).
                var dataset = new MultipartFormDataContent();
                var rows = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', Enumerable.Range(0, 8).Select(i => $"{{\"instruction\":\"Say {i}.\",\"output\":\"{i} it is.\"}}"))));
                rows.Headers.Add("Content-Disposition", "form-data; name=\"file\"; filename=\"train.jsonl\"");
                dataset.Add(rows);
                Assert.Equal(HttpStatusCode.Created, (await http.PostAsync("/api/datasets", dataset)).StatusCode);
                var tune = await http.PostAsync("/api/tune", new StringContent("{\"model\":\"stories260K\",\"dataset\":\"train.jsonl\",\"steps\":2}", System.Text.Encoding.UTF8, "application/json"));
                Assert.True(tune.StatusCode == HttpStatusCode.Accepted, await tune.Content.ReadAsStringAsync());
                using (var t = JsonDocument.Parse(await tune.Content.ReadAsStringAsync()))
                    tuneId = t.RootElement.GetProperty("id").GetString()!;
                // Kill once the ingestion has written something, but before it is done.
                var deadline = DateTime.UtcNow.AddSeconds(120);
                while (true)
                {
                    using var j = JsonDocument.Parse(await http.GetStringAsync($"/api/jobs/{ingestId}"));
                    var state = j.RootElement.GetProperty("state").GetString();
                    Assert.True(state is "queued" or "running", $"the ingestion ended ({state}) before the kill");
                    if (state == "running" && j.RootElement.GetProperty("stage").GetString() == "embed" && j.RootElement.GetProperty("done").GetInt32() > 0) break;
                    Assert.True(DateTime.UtcNow < deadline, "the ingestion did not start");
                    await Task.Delay(20);
                }
            }
            finally
            {
                server.Kill(entireProcessTree: true); // SIGKILL
                server.WaitForExit(10_000);
            }
        }

        // Every acknowledged upload is on disk; the collection opens; the jobs are listed, interrupted.
        Assert.Equal(64, Directory.GetFiles(Path.Combine(data, "uploads", "docs"), "*.md", SearchOption.AllDirectories).Length);
        using (var server = StartServer(port, data, "--embed-model", encoder))
        {
            try
            {
                await WaitHealthyAsync(http, server);
                using var jobs = JsonDocument.Parse(await http.GetStringAsync("/api/jobs"));
                var byId = jobs.RootElement.EnumerateArray().ToDictionary(j => j.GetProperty("id").GetString()!, j => j.Clone());
                foreach (var (id, was) in new[] { (ingestId, "running"), (tuneId, "queued") })
                {
                    Assert.True(byId.ContainsKey(id), $"job {id} is not listed after the restart");
                    Assert.Equal("failed", byId[id].GetProperty("state").GetString());
                    Assert.StartsWith($"Interrupted: the server stopped while this job was {was}.", byId[id].GetProperty("error").GetString());
                }
                using var stats = JsonDocument.Parse(await http.GetStringAsync("/api/collections/docs"));
                // The 64 documents are one write batch (one transaction): the killed ingestion left none of them.
                Assert.True(stats.RootElement.TryGetProperty("documents", out var documents), stats.RootElement.ToString());
                Assert.Equal(0, documents.GetInt32());
                // One more upload starts an ingestion, which finishes the collection from every kept upload.
                var one = new MultipartFormDataContent();
                var extra = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes("# Extra\n\nOne more document.\n"));
                extra.Headers.Add("Content-Disposition", "form-data; name=\"file\"; filename=\"extra.md\"");
                one.Add(extra);
                var again = await http.PostAsync("/api/collections/docs/documents", one);
                using var a = JsonDocument.Parse(await again.Content.ReadAsStringAsync());
                Assert.True(a.RootElement.TryGetProperty("job", out _), a.RootElement.ToString());
                var id2 = a.RootElement.GetProperty("job").GetProperty("id").GetString();
                var deadline = DateTime.UtcNow.AddSeconds(120);
                while (true)
                {
                    using var j = JsonDocument.Parse(await http.GetStringAsync($"/api/jobs/{id2}"));
                    if (j.RootElement.GetProperty("state").GetString() == "succeeded") break;
                    Assert.True(j.RootElement.GetProperty("state").GetString() is "queued" or "running", j.RootElement.ToString());
                    Assert.True(DateTime.UtcNow < deadline, "the second ingestion did not finish");
                    await Task.Delay(100);
                }
                using var after = JsonDocument.Parse(await http.GetStringAsync("/api/collections/docs"));
                Assert.Equal(65, after.RootElement.GetProperty("documents").GetInt32());
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                server.WaitForExit(10_000);
            }
        }
    }
}
