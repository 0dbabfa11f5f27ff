using System.Net;
using System.Net.Http.Headers;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace RagTune.Server.Tests.Api;

/// <summary>
/// <c>/mcp</c> on the real server over loopback, driven by the ModelContextProtocol package's own client
/// (streamable HTTP): the tools of <c>ragtune mcp</c> on the server's collections, behind its API key and limits.
/// </summary>
public sealed class McpEndpointTests
{
    private const string Key = "mcp-test-key";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private static Task<ApiServer> Start(FakeChatClient chat, params (string Key, string Value)[] settings) =>
        ApiServer.StartAsync(new ModelRegistry().AddChat("fake", chat), [("Server:ApiKey", Key), .. settings]);

    private static async Task<McpClient> Connect(ApiServer api, string? key = Key)
    {
        var headers = key == null ? null : new Dictionary<string, string> { ["Authorization"] = "Bearer " + key };
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(api.Server.BaseUrl + "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = headers,
        });
        using var cts = new CancellationTokenSource(s_timeout);
        return await McpClient.CreateAsync(transport, cancellationToken: cts.Token);
    }

    private static async Task<CallToolResult> Call(McpClient client, string tool, Dictionary<string, object?> args)
    {
        using var cts = new CancellationTokenSource(s_timeout);
        return await client.CallToolAsync(tool, args, cancellationToken: cts.Token);
    }

    private static string Text(CallToolResult r) => Assert.IsType<TextContentBlock>(Assert.Single(r.Content)).Text;

    private static async Task Authorized(ApiServer api)
    {
        api.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        await api.CreateAndIngestAsync();
    }

    [Fact]
    public async Task Search_and_ask_work_on_the_server_s_collections_with_the_key_and_are_refused_without_it()
    {
        await using var api = await Start(new FakeChatClient());
        await Authorized(api);

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => Connect(api, key: null));
        Assert.Contains("401", refused.ToString());
        await Assert.ThrowsAnyAsync<Exception>(() => Connect(api, key: "wrong"));
        using (var raw = new HttpClient())
        {
            using var response = await raw.PostAsync(api.Server.BaseUrl + "/mcp", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        await using var client = await Connect(api);
        Assert.Equal("ragtune", client.ServerInfo?.Name);
        var tools = await client.ListToolsAsync();
        Assert.Equal(["ask", "search"], tools.Select(t => t.Name).Order());
        var schema = tools.Single(t => t.Name == "search").JsonSchema;
        Assert.Equal(["query", "collection"], schema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.True(tools.Single(t => t.Name == "ask").JsonSchema.GetProperty("properties").TryGetProperty("model", out _));

        var found = await Call(client, "search", new() { ["collection"] = "docs", ["query"] = "bark at strangers", ["top_k"] = 2 });
        Assert.True(found.IsError != true, Text(found));
        var s = found.StructuredContent!.Value;
        Assert.Equal("docs", s.GetProperty("collection").GetString());
        Assert.Equal("bm25", s.GetProperty("mode").GetString());
        var top = s.GetProperty("passages")[0];
        Assert.Contains("Dogs bark", top.GetProperty("text").GetString());
        Assert.Equal("pets.md", top.GetProperty("document_id").GetString());
        Assert.Equal("pets.md", top.GetProperty("source").GetString());     // no server paths

        var filtered = await Call(client, "search", new() { ["collection"] = "docs", ["query"] = "dogs", ["filters"] = new Dictionary<string, string> { ["ext"] = "txt" } });
        Assert.Equal(0, filtered.StructuredContent!.Value.GetProperty("passages").GetArrayLength());

        var unknown = await Call(client, "search", new() { ["collection"] = "nope", ["query"] = "dogs" });
        Assert.True(unknown.IsError);
        Assert.Contains("no collection 'nope'", Text(unknown));
        Assert.Contains("docs", Text(unknown));
        var missing = await Call(client, "search", new() { ["query"] = "dogs" });
        Assert.True(missing.IsError);
        Assert.Contains("'collection' is required", Text(missing));

        var extractive = await Call(client, "ask", new() { ["collection"] = "docs", ["question"] = "How long do cats sleep?" });
        Assert.True(extractive.IsError != true, Text(extractive));
        Assert.Equal("extractive", extractive.StructuredContent!.Value.GetProperty("mode").GetString());
        Assert.Contains("sixteen hours", extractive.StructuredContent!.Value.GetProperty("answer").GetString());

        var modelled = await Call(client, "ask", new() { ["collection"] = "docs", ["question"] = "How long do cats sleep?", ["model"] = "fake", ["top_k"] = 1 });
        Assert.True(modelled.IsError != true, Text(modelled));
        var a = modelled.StructuredContent!.Value;
        Assert.Equal("fake", a.GetProperty("mode").GetString());
        Assert.Equal(1, a.GetProperty("sources").GetArrayLength());
        var noSuchModel = await Call(client, "ask", new() { ["collection"] = "docs", ["question"] = "cats?", ["model"] = "ghost" });
        Assert.True(noSuchModel.IsError);
        Assert.Contains("'ghost' does not exist", Text(noSuchModel));
    }

    [Fact]
    public async Task Mcp_calls_share_the_server_s_concurrency_limit()
    {
        var held = new FakeChatClient(hold: true);
        await using var api = await Start(held, ("Server:MaxConcurrentRequests", "1"), ("Server:QueueLimit", "0"));
        await Authorized(api);
        await using var client = await Connect(api);
        // An ask whose model is held occupies the only request slot.
        var asking = Call(client, "ask", new() { ["collection"] = "docs", ["question"] = "How long do cats sleep?", ["model"] = "fake" });
        for (int i = 0; i < 400 && held.Entered == 0; i++) await Task.Delay(25);
        Assert.Equal(1, held.Entered);
        var busy = await api.Http.GetAsync("/api/collections");
        Assert.Equal(HttpStatusCode.TooManyRequests, busy.StatusCode);
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => Connect(api));      // a second MCP client is turned away too
        Assert.Contains("429", refused.ToString());
        held.Release();
        var answer = await asking;
        Assert.True(answer.IsError != true, Text(answer));
        // The slot is released when the MCP request ends on the server, which can be a moment after the client has
        // read the answer off the stream: wait for it (bounded) rather than race it.
        var status = HttpStatusCode.TooManyRequests;
        for (int i = 0; i < 80 && status == HttpStatusCode.TooManyRequests; i++)
        {
            status = (await api.Http.GetAsync("/api/collections")).StatusCode;
            if (status == HttpStatusCode.TooManyRequests) await Task.Delay(25);
        }
        Assert.Equal(HttpStatusCode.OK, status);
    }
}
