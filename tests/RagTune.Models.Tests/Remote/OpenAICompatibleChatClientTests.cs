using RagTune.TestKit.Http;
using Microsoft.Extensions.AI;
using RagTune.Models.Remote;

namespace RagTune.Models.Tests.Remote;

public sealed class OpenAICompatibleChatClientTests
{
    private static readonly OpenAICompatibleClientOptions NoRetry = new() { MaxRetries = 0, NetworkTimeout = TimeSpan.FromSeconds(30) };

    private static List<ChatMessage> Conversation() =>
    [
        new(ChatRole.System, "You are terse."),
        new(ChatRole.User, "Say hello."),
        new(ChatRole.Assistant, "Hi."),
        new(ChatRole.User, "Again, louder."),
    ];

    [Fact]
    public async Task Sends_model_messages_and_options_and_maps_the_reply()
    {
        await using var server = new FakeOpenAIServer();
        using var client = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", options: NoRetry);

        var response = await client.GetResponseAsync(Conversation(), new ChatOptions
        {
            Temperature = 0.25f, TopP = 0.5f, MaxOutputTokens = 17, Seed = 42, StopSequences = ["\n\n", "END"],
        });

        Assert.Equal("Hello, world!", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal("tiny-chat", response.ModelId);
        Assert.Equal("chatcmpl-test1", response.ResponseId);
        Assert.Equal(12, response.Usage!.InputTokenCount);
        Assert.Equal(4, response.Usage.OutputTokenCount);
        Assert.Equal(16, response.Usage.TotalTokenCount);

        var body = Assert.Single(server.Bodies("/v1/chat/completions"));
        Assert.Equal("tiny-chat", (string)body["model"]!);
        var messages = body["messages"]!.AsArray();
        Assert.Equal(["system", "user", "assistant", "user"], messages.Select(m => (string)m!["role"]!));
        Assert.Equal("Again, louder.", ContentText(messages[3]!["content"]!));
        Assert.Equal(0.25, (double)body["temperature"]!, 5);
        Assert.Equal(0.5, (double)body["top_p"]!, 5);
        Assert.Equal(42, (long)body["seed"]!);
        Assert.Equal(17, MaxTokens(body));
        Assert.Equal(["\n\n", "END"], body["stop"]!.AsArray().Select(s => (string)s!));
        Assert.NotEqual(true, (bool?)body["stream"]);
        var auth = server.Requests.Single().Header("Authorization");
        Assert.StartsWith("Bearer ", auth);
    }

    [Fact]
    public async Task Omits_unset_sampling_options()
    {
        await using var server = new FakeOpenAIServer();
        using var client = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", options: NoRetry);
        await client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")]);
        var body = Assert.Single(server.Bodies("/v1/chat/completions"));
        Assert.False(body.ContainsKey("temperature"));
        Assert.False(body.ContainsKey("top_p"));
        Assert.False(body.ContainsKey("stop"));
        Assert.False(body.ContainsKey("seed"));
    }

    [Fact]
    public async Task Streams_text_updates_then_finish_reason_and_usage()
    {
        await using var server = new FakeOpenAIServer { FinishReason = "length" };
        using var client = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", options: NoRetry);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(Conversation(), new ChatOptions { Temperature = 0 }))
            updates.Add(u);

        Assert.Equal(["Hello", ", ", "world", "!"], updates.Where(u => u.Text.Length > 0).Select(u => u.Text));
        Assert.Contains(updates, u => u.FinishReason == ChatFinishReason.Length);
        var usage = updates.SelectMany(u => u.Contents).OfType<UsageContent>().Single();
        Assert.Equal(12, usage.Details.InputTokenCount);
        Assert.Equal(4, usage.Details.OutputTokenCount);
        Assert.All(updates, u => Assert.Equal("chatcmpl-test2", u.ResponseId));

        var response = updates.ToChatResponse();
        Assert.Equal("Hello, world!", response.Text);

        var body = Assert.Single(server.Bodies("/v1/chat/completions"));
        Assert.True((bool)body["stream"]!);
        Assert.Equal(0.0, (double)body["temperature"]!);
    }

    [Fact]
    public async Task Cancelling_a_stream_midway_stops_it()
    {
        await using var server = new FakeOpenAIServer { ReplyPieces = [.. Enumerable.Range(0, 50).Select(i => $"t{i} ")], ChunkDelay = TimeSpan.FromMilliseconds(50) };
        using var client = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", options: NoRetry);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var u in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "go")], cancellationToken: cts.Token))
                if (u.Text.Length > 0 && ++seen == 3) await cts.CancelAsync();
        });
        Assert.Equal(3, seen);
    }

    [Fact]
    public async Task Refused_connection_says_the_server_is_not_running()
    {
        var url = new Uri($"http://127.0.0.1:{LoopbackHttpServer.UnusedPort()}/v1");
        using var client = new OpenAICompatibleChatClient(url, "tiny-chat", options: NoRetry);
        var e = await Assert.ThrowsAsync<RemoteModelException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")]));
        Assert.Contains($"cannot reach {url}/chat/completions: is the server running?", e.Message);
        Assert.Null(e.StatusCode);

        var streaming = await Assert.ThrowsAsync<RemoteModelException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hi")])) { }
        });
        Assert.Contains("is the server running?", streaming.Message);

        using var retrying = new OpenAICompatibleChatClient(url, "tiny-chat", options: new() { MaxRetries = 1 });
        var afterRetry = await Assert.ThrowsAsync<RemoteModelException>(() => retrying.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")]));
        Assert.Contains("is the server running?", afterRetry.Message);
    }

    [Fact]
    public async Task Unauthorized_names_the_api_key()
    {
        await using var server = new FakeOpenAIServer { RequiredKey = "sk-right" };
        using var wrong = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", "sk-wrong", NoRetry);
        var e = await Assert.ThrowsAsync<RemoteModelException>(() => wrong.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")]));
        Assert.Equal(401, e.StatusCode);
        Assert.Contains("401", e.Message);
        Assert.Contains("API key was rejected", e.Message);
        Assert.Contains(server.BaseUrl + "/chat/completions", e.Message);

        using var none = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", options: NoRetry);
        var missing = await Assert.ThrowsAsync<RemoteModelException>(() => none.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")]));
        Assert.Contains("API key was missing", missing.Message);

        using var right = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", "sk-right", NoRetry);
        Assert.Equal("Hello, world!", (await right.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")])).Text);
    }

    [Fact]
    public async Task Unknown_model_names_the_model_and_path()
    {
        await using var server = new FakeOpenAIServer();
        using var client = new OpenAICompatibleChatClient(server.BaseUrl, "no-such-model", options: NoRetry);
        var e = await Assert.ThrowsAsync<RemoteModelException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")]));
        Assert.Equal(404, e.StatusCode);
        Assert.Contains("404", e.Message);
        Assert.Contains("'no-such-model'", e.Message);
        Assert.Contains("/v1", e.Message);
    }

    [Fact]
    public async Task Options_model_id_overrides_the_default_model()
    {
        await using var server = new FakeOpenAIServer();
        server.Models.Add("other");
        using var client = new OpenAICompatibleChatClient(server.BaseUrl, "tiny-chat", options: NoRetry);
        var r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { ModelId = "other" });
        Assert.Equal("other", r.ModelId);
    }

    [Fact]
    public void Metadata_names_the_provider_url_and_model()
    {
        using var client = new OpenAICompatibleChatClient(new Uri("http://127.0.0.1:1/v1"), "m1");
        var meta = client.GetService<ChatClientMetadata>()!;
        Assert.Equal("openai-compatible", meta.ProviderName);
        Assert.Equal("m1", meta.DefaultModelId);
        Assert.Equal(new Uri("http://127.0.0.1:1/v1"), meta.ProviderUri);
        Assert.Throws<ArgumentException>(() => new OpenAICompatibleChatClient(new Uri("ftp://x/v1"), "m"));
        Assert.ThrowsAny<ArgumentException>(() => new OpenAICompatibleChatClient(new Uri("http://x/v1"), " "));
    }

    [Fact]
    public async Task Tool_role_messages_are_rejected_with_a_clear_message()
    {
        using var client = new OpenAICompatibleChatClient(new Uri("http://127.0.0.1:1/v1"), "m1", options: NoRetry);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.Tool, "x")]));
        Assert.Contains("tool", e.Message);
    }

    private static string ContentText(System.Text.Json.Nodes.JsonNode content) =>
        content is System.Text.Json.Nodes.JsonArray parts ? string.Concat(parts.Select(p => (string)p!["text"]!)) : (string)content!;

    private static int MaxTokens(System.Text.Json.Nodes.JsonObject body) =>
        (int)(body["max_completion_tokens"] ?? body["max_tokens"])!;
}

public sealed class OpenAICompatibleModelListTests
{
    [Fact]
    public async Task Lists_the_models_the_server_serves()
    {
        await using var server = new FakeOpenAIServer();
        var models = await OpenAICompatibleChatClient.ListModelsAsync(server.BaseUrl, options: new() { MaxRetries = 0 });
        Assert.Equal(["tiny-chat", "tiny-embed"], models.Order());
    }
}
