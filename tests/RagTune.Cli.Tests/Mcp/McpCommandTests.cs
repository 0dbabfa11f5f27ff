using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using RagTune.Cli.Tests.Rag;
using RagTune.TestKit;

namespace RagTune.Cli.Tests.Mcp;

/// <summary>
/// <c>ragtune mcp</c> as a coding assistant meets it: the real CLI started as a child process over stdio, driven
/// by the ModelContextProtocol package's own client, over a SQLite collection ingested by the real CLI.
/// </summary>
public sealed class McpCommandTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);
    private readonly TempDir _dir = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private string Data => Path.Combine(_dir.Path, "data");

    public McpCommandTests()
    {
        var docs = Path.Combine(_dir.Path, "docs");
        Directory.CreateDirectory(docs);
        File.WriteAllText(Path.Combine(docs, "cats.md"), "# Cats\n\nCats purr when they are happy. A cat sleeps sixteen hours a day.\n\n## Food\n\nCats eat fish and mice.\n");
        File.WriteAllText(Path.Combine(docs, "dogs.txt"), "Dogs bark at strangers. The dog was domesticated fifteen thousand years ago.\n");
        File.WriteAllText(Path.Combine(docs, "birds.html"), "<html><head><title>Birds</title></head><body><h1>Birds</h1><p>Penguins are birds that cannot fly. They swim in cold seas.</p></body></html>");
        var ingest = CliProcess.Run("ingest", docs, "--collection", "kb", "--data-dir", Data);
        Assert.True(ingest.ExitCode == 0, ingest.Stderr);
    }

    private Task<McpClient> Start(params string[] args)
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "ragtune",
            Command = "dotnet",
            Arguments = [Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"), "mcp", "--data-dir", Data, .. args],
            StandardErrorLines = _stderr.Enqueue,
        });
        using var cts = new CancellationTokenSource(s_timeout);
        return McpClient.CreateAsync(transport, cancellationToken: cts.Token);
    }

    private static async Task<CallToolResult> Call(McpClient client, string tool, Dictionary<string, object?> args)
    {
        using var cts = new CancellationTokenSource(s_timeout);
        return await client.CallToolAsync(tool, args, cancellationToken: cts.Token);
    }

    private static string Text(CallToolResult r) => Assert.IsType<TextContentBlock>(Assert.Single(r.Content)).Text;

    [Fact]
    public async Task Lists_both_tools_with_their_schemas_and_search_returns_passages_with_spans()
    {
        await using var client = await Start("--collection", "kb");
        Assert.Equal("ragtune", client.ServerInfo?.Name);
        Assert.Contains("'kb'", client.ServerInstructions);

        var tools = await client.ListToolsAsync();
        Assert.Equal(["ask", "search"], tools.Select(t => t.Name).Order());
        var search = tools.Single(t => t.Name == "search").JsonSchema;
        Assert.Equal("object", search.GetProperty("type").GetString());
        Assert.Equal(["query"], search.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        var props = search.GetProperty("properties");
        Assert.Equal("string", props.GetProperty("query").GetProperty("type").GetString());
        Assert.Equal("integer", props.GetProperty("top_k").GetProperty("type").GetString());
        Assert.Equal("object", props.GetProperty("filters").GetProperty("type").GetString());
        Assert.Equal(["bm25", "dense", "hybrid"], props.GetProperty("mode").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
        var ask = tools.Single(t => t.Name == "ask").JsonSchema;
        Assert.Equal(["question"], ask.GetProperty("required").EnumerateArray().Select(e => e.GetString()));

        var result = await Call(client, "search", new() { ["query"] = "penguins swim", ["top_k"] = 2 });
        Assert.NotEqual(true, result.IsError);
        var structured = result.StructuredContent!.Value;
        Assert.Equal("bm25", structured.GetProperty("mode").GetString());          // no embedding model: keyword search
        var passages = structured.GetProperty("passages");
        Assert.InRange(passages.GetArrayLength(), 1, 2);
        var top = passages[0];
        Assert.Equal("birds.html", top.GetProperty("document_id").GetString());
        Assert.EndsWith("birds.html", top.GetProperty("source").GetString());
        Assert.Equal(1, top.GetProperty("rank").GetInt32());
        Assert.True(top.GetProperty("score").GetDouble() > 0);
        var text = top.GetProperty("text").GetString()!;
        Assert.Contains("Penguins", text);
        Assert.Equal(text.Length, top.GetProperty("end").GetInt32() - top.GetProperty("start").GetInt32());
        using (var fromText = JsonDocument.Parse(Text(result)))                    // the text block carries the same JSON
            Assert.Equal("birds.html", fromText.RootElement.GetProperty("passages")[0].GetProperty("document_id").GetString());

        var filtered = await Call(client, "search", new() { ["query"] = "cats dogs penguins", ["filters"] = new Dictionary<string, string> { ["ext"] = "md" } });
        var docs = filtered.StructuredContent!.Value.GetProperty("passages").EnumerateArray().Select(p => p.GetProperty("document_id").GetString()).ToList();
        Assert.NotEmpty(docs);
        Assert.All(docs, d => Assert.Equal("cats.md", d));

        var noModel = await Call(client, "ask", new() { ["question"] = "What do cats eat?" });
        Assert.True(noModel.IsError);
        Assert.Contains("--model", Text(noModel));

        var badArgs = await Call(client, "search", new() { ["query"] = "cats", ["top_k"] = 0 });
        Assert.True(badArgs.IsError);
        Assert.Contains("'top_k' is 0", Text(badArgs));
        var dense = await Call(client, "search", new() { ["query"] = "cats", ["mode"] = "dense" });
        Assert.True(dense.IsError);
        Assert.Contains("embedding model", Text(dense));
        var typo = await Call(client, "search", new() { ["qeury"] = "cats" });
        Assert.True(typo.IsError);
        Assert.Contains("unknown argument 'qeury'", Text(typo));
    }

    [Fact]
    public async Task Ask_with_a_tiny_local_model_returns_a_verified_answer_and_its_sources()
    {
        // Random weights write nonsense: what is checked is the shape of a grounded answer, not its wording. Seed 5
        // writes text under greedy decoding (seed 1 ends the sequence at once, which would leave nothing to check).
        var model = TinyModels.WithContext("tiny", "f32", contextLength: 2048, seed: 5);
        await using var client = await Start("--collection", "kb", "--model", model, "--threads", "1");
        var result = await Call(client, "ask", new() { ["question"] = "How many hours a day does a cat sleep?", ["top_k"] = 2, ["max_tokens"] = 12 });
        Assert.True(result.IsError != true, Text(result));
        var a = result.StructuredContent!.Value;
        Assert.Equal("How many hours a day does a cat sleep?", a.GetProperty("question").GetString());
        Assert.Equal("model", a.GetProperty("mode").GetString());
        Assert.False(string.IsNullOrWhiteSpace(a.GetProperty("answer").GetString()), Text(result));
        var sources = a.GetProperty("sources").EnumerateArray().ToList();
        Assert.InRange(sources.Count, 1, 2);
        Assert.Equal("cats.md", sources[0].GetProperty("document_id").GetString());
        Assert.Equal([1, .. Enumerable.Range(2, sources.Count - 1)], sources.Select(s => s.GetProperty("number").GetInt32()));
        Assert.NotEmpty(a.GetProperty("sentences").EnumerateArray());
        var cited = a.GetProperty("citations").EnumerateArray().Select(e => e.GetInt32()).ToHashSet();
        Assert.All(sources, s => Assert.Equal(cited.Contains(s.GetProperty("number").GetInt32()), s.GetProperty("cited").GetBoolean()));
    }

    [Fact]
    public async Task Ask_over_a_remote_model_maps_citations_to_the_cited_passages_and_flags_fabricated_ones()
    {
        using var remote = new FakeOpenAIEndpoint("Cats eat fish and mice [1]. Cats can fly [7].");
        await using var client = await Start("--collection", "kb", "--remote", remote.BaseUrl, "--remote-model", "chat");
        var result = await Call(client, "ask", new() { ["question"] = "What do cats eat?", ["top_k"] = 3 });
        Assert.True(result.IsError != true, Text(result));
        var a = result.StructuredContent!.Value;
        Assert.Equal("Cats eat fish and mice [1]. Cats can fly [7].", a.GetProperty("answer").GetString());
        Assert.Equal([1], a.GetProperty("citations").EnumerateArray().Select(e => e.GetInt32()));
        var sentences = a.GetProperty("sentences").EnumerateArray().ToList();
        Assert.Equal(2, sentences.Count);
        Assert.True(sentences[0].GetProperty("supported").GetBoolean());
        Assert.Equal([7], sentences[1].GetProperty("fabricated_citations").EnumerateArray().Select(e => e.GetInt32()));
        var first = a.GetProperty("sources")[0];
        Assert.True(first.GetProperty("cited").GetBoolean());
        Assert.Equal("cats.md", first.GetProperty("document_id").GetString());
        Assert.Contains("fish and mice", first.GetProperty("text").GetString());
        Assert.Equal(1, remote.ChatRequests);
    }

    [Fact]
    public async Task An_unknown_collection_stops_the_server_with_a_clear_error_on_stderr()
    {
        await Assert.ThrowsAnyAsync<Exception>(() => Start("--collection", "nope"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!_stderr.Any(l => l.Contains("no collection 'nope'", StringComparison.Ordinal)) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Contains(_stderr, l => l.Contains("no collection 'nope'", StringComparison.Ordinal) && l.Contains("ragtune ingest", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stdout_carries_only_json_rpc_messages_even_while_a_model_loads_and_logs_are_verbose()
    {
        var model = TinyModels.WithContext("tiny", "f32", contextLength: 2048, seed: 5);
        string[] requests =
        [
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""",
            """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"question":"How many hours a day does a cat sleep?","top_k":1,"max_tokens":4}}}""",
        ];
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"), "mcp", "--collection", "kb", "--data-dir", Data, "--model", model, "--threads", "1", "--log-level", "Trace" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        foreach (var request in requests) p.StandardInput.WriteLine(request);
        p.StandardInput.Flush();
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(s_timeout);
        // Every line on stdout must be a JSON-RPC message; the two answers are awaited before stdin is closed
        // (closing it ends the session, and the server drops what it has not answered yet).
        while (lines.Count(l => l.Contains("\"id\"", StringComparison.Ordinal)) < 2 && await p.StandardOutput.ReadLineAsync(cts.Token) is { } line) lines.Add(line);
        p.StandardInput.Close();
        lines.AddRange((await p.StandardOutput.ReadToEndAsync(cts.Token)).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        await p.WaitForExitAsync(cts.Token);
        Assert.Contains("MCP server for collection kb", await stderr);                 // the logs went to stderr
        Assert.Equal(2, lines.Count);                                                    // one answer per request, nothing else
        foreach (var line in lines)
        {
            using var message = JsonDocument.Parse(line);
            Assert.Equal("2.0", message.RootElement.GetProperty("jsonrpc").GetString());
            Assert.True(message.RootElement.TryGetProperty("result", out _), line);
        }
    }

    [Fact]
    public async Task A_collection_file_named_with_db_is_served_under_its_file_name()
    {
        await using var client = await Start("--db", Path.Combine(Data, "collections", "kb.db"));
        var result = await Call(client, "search", new() { ["query"] = "dogs bark" });
        Assert.NotEqual(true, result.IsError);
        Assert.Equal("kb", result.StructuredContent!.Value.GetProperty("collection").GetString());
        Assert.Equal("dogs.txt", result.StructuredContent!.Value.GetProperty("passages")[0].GetProperty("document_id").GetString());
    }

    public void Dispose() => _dir.Dispose();
}
