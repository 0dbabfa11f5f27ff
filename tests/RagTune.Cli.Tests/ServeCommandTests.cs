using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using RagTune.TestKit;

namespace RagTune.Cli.Tests;

public sealed class ServeCommandTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static int FreePort()
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
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"), "serve", "-m", Stories, "--port", port.ToString(), "--threads", "1", "--data-dir", data.Path })
            psi.ArgumentList.Add(a);
        using var server = Process.Start(psi)!;
        _ = server.StandardOutput.ReadToEndAsync();
        _ = server.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    if ((await http.GetAsync("/health")).IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) { }
                Assert.False(server.HasExited, "the server exited during start-up");
                Assert.True(DateTime.UtcNow < deadline, "the server did not become healthy within 60 s");
                await Task.Delay(250);
            }
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
}
