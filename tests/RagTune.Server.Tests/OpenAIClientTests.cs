using System.ClientModel;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using OpenAI.Models;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Server.Tests;

/// <summary>The official OpenAI .NET client talks to the running server.</summary>
public sealed class OpenAIClientTests
{
    private const string Key = "test-key-123456";

    private static OpenAIClientOptions Options(RunningServer s) => new() { Endpoint = new Uri(s.BaseUrl + "/v1"), NetworkTimeout = TimeSpan.FromMinutes(2) };

    private static Task<RunningServer> StartFake(FakeChatClient? fake = null) =>
        RunningServer.StartAsync(new ModelRegistry().AddChat("fake", fake ?? new FakeChatClient()).AddChat("other", new FakeChatClient()), ("Server:ApiKey", Key));

    [Fact]
    public async Task Lists_the_loaded_models()
    {
        await using var server = await StartFake();
        var client = new OpenAIModelClient(new ApiKeyCredential(Key), Options(server));
        var models = (await client.GetModelsAsync()).Value;
        Assert.Equal(["fake", "other"], models.Select(m => m.Id));
        Assert.All(models, m => Assert.Equal("ragtune", m.OwnedBy));
    }

    [Fact]
    public async Task Completes_a_chat()
    {
        var fake = new FakeChatClient();
        await using var server = await StartFake(fake);
        var chat = new ChatClient("fake", new ApiKeyCredential(Key), Options(server));
#pragma warning disable OPENAI001 // Seed is marked experimental in the client.
        var options = new ChatCompletionOptions { Temperature = 0.5f, TopP = 0.9f, MaxOutputTokenCount = 50, Seed = 42, StopSequences = { "never" } };
#pragma warning restore OPENAI001
        var completion = (await chat.CompleteChatAsync([new SystemChatMessage("be brief"), new UserChatMessage("hello there")], options)).Value;

        Assert.Equal("You said: hello there", completion.Content[0].Text);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("fake", completion.Model);
        Assert.Equal(7, completion.Usage.InputTokenCount);
        Assert.Equal(4, completion.Usage.OutputTokenCount);
        Assert.Equal(11, completion.Usage.TotalTokenCount);
        Assert.Equal(0.5f, fake.LastOptions!.Temperature);
        Assert.Equal(0.9f, fake.LastOptions.TopP);
        Assert.Equal(50, fake.LastOptions.MaxOutputTokens);
        Assert.Equal(42, fake.LastOptions.Seed);
        Assert.Equal(["never"], fake.LastOptions.StopSequences!);
    }

    [Fact]
    public async Task Streams_a_chat_with_usage_and_finish_reason()
    {
        await using var server = await StartFake();
        var chat = new ChatClient("fake", new ApiKeyCredential(Key), Options(server));
        var text = new System.Text.StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage("one two three")], new ChatCompletionOptions { MaxOutputTokenCount = 4 }))
        {
            updates++;
            foreach (var part in u.ContentUpdate) text.Append(part.Text);
            finish ??= u.FinishReason;
            usage ??= u.Usage;
        }
        Assert.Equal("You said: one two", text.ToString());
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, finish);
        Assert.NotNull(usage); // the official client asks for stream_options.include_usage
        Assert.Equal(4, usage.OutputTokenCount);
        Assert.True(updates >= 5);
    }

    [Fact]
    public async Task Unknown_model_is_a_404_the_client_reports()
    {
        await using var server = await StartFake();
        var chat = new ChatClient("nope", new ApiKeyCredential(Key), Options(server));
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
        Assert.Contains("nope", e.Message);
    }

    [Fact]
    public async Task Wrong_key_is_a_401_the_client_reports()
    {
        await using var server = await StartFake();
        var chat = new ChatClient("fake", new ApiKeyCredential("wrong-key-000"), Options(server));
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, e.Status);
    }

    [Fact]
    public async Task Embeddings_are_served_when_a_generator_is_registered()
    {
        await using var server = await RunningServer.StartAsync(new ModelRegistry().AddChat("fake", new FakeChatClient()).AddEmbedding("vec", new FakeEmbeddingGenerator()));
        var client = new EmbeddingClient("vec", new ApiKeyCredential("unused-key"), Options(server));
        var result = (await client.GenerateEmbeddingsAsync(["hello world", "ab"])).Value;
        Assert.Equal(2, result.Count);
        Assert.Equal([11f, 3f, 1f], result[0].ToFloats().ToArray());
        Assert.Equal([2f, 1f, 0f], result[1].ToFloats().ToArray());
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Real_model_streams_the_same_greedy_text_as_it_answers()
    {
        var path = SharedData.File("models", "stories260k", "stories260K.gguf");
        using var models = new ModelRegistry().AddChat("stories260K", new LocalChatClient(path, new LocalChatClientOptions { Threads = 1, ContextSize = 256 }));
        await using var server = await RunningServer.StartAsync(models);
        var chat = new ChatClient("stories260K", new ApiKeyCredential("unused-key"), Options(server));
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };
        ChatMessage[] messages = [new UserChatMessage("Once upon a time")];

        var whole = (await chat.CompleteChatAsync(messages, options)).Value;
        var streamed = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var u in chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in u.ContentUpdate) streamed.Append(part.Text);
            usage ??= u.Usage;
        }

        Assert.False(string.IsNullOrEmpty(whole.Content[0].Text));
        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.True(whole.Usage.InputTokenCount > 0);
        Assert.InRange(whole.Usage.OutputTokenCount, 1, 24);
        Assert.Equal(whole.Usage.OutputTokenCount, usage!.OutputTokenCount);
        var models2 = (await new OpenAIModelClient(new ApiKeyCredential("unused-key"), Options(server)).GetModelsAsync()).Value;
        Assert.Equal("stories260K", Assert.Single(models2).Id);
    }
}
