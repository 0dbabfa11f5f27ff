using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Server.Tests;

/// <summary>One server over the real stories260K model (our engine through LocalChatClient), shared by the class.</summary>
public sealed class RealModelServer : IAsyncLifetime
{
    private ModelRegistry? _models;

    public RunningServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var path = SharedData.File("models", "stories260k", "stories260K.gguf");
        _models = new ModelRegistry().AddChat("stories260K", new LocalChatClient(path, new LocalChatClientOptions { Threads = 1, ContextSize = 128 }));
        Server = await RunningServer.StartAsync(_models);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _models?.Dispose();
    }
}

[Trait("Category", "Slow")]
public sealed class RealModelTests(RealModelServer fixture) : IClassFixture<RealModelServer>
{
    private ChatClient Chat() => new("stories260K", new ApiKeyCredential("unused-key"),
        new OpenAIClientOptions { Endpoint = new Uri(fixture.Server.BaseUrl + "/v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });

    [Fact]
    public async Task Same_seed_gives_the_same_sampled_text()
    {
#pragma warning disable OPENAI001 // Seed is marked experimental in the client.
        var options = new ChatCompletionOptions { Temperature = 1.0f, TopP = 0.9f, MaxOutputTokenCount = 16, Seed = 1234 };
#pragma warning restore OPENAI001
        ChatMessage[] messages = [new UserChatMessage("Lily had a cat")];
        var a = (await Chat().CompleteChatAsync(messages, options)).Value.Content[0].Text;
        var b = (await Chat().CompleteChatAsync(messages, options)).Value.Content[0].Text;
        Assert.False(string.IsNullOrEmpty(a));
        Assert.Equal(a, b);
    }

    [Fact]
    public async Task Stop_string_ends_the_answer_before_it()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };
        ChatMessage[] messages = [new UserChatMessage("Once upon a time")];
        var full = (await Chat().CompleteChatAsync(messages, options)).Value.Content[0].Text;
        var cut = full.Trim().Split(' ')[^1];
        Assert.False(string.IsNullOrEmpty(cut));
        options.StopSequences.Add(cut);
        var stopped = (await Chat().CompleteChatAsync(messages, options)).Value;
        Assert.Equal(full[..full.IndexOf(cut, StringComparison.Ordinal)], stopped.Content[0].Text);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Prompt_longer_than_the_context_is_400_context_length_exceeded(bool stream)
    {
        var body = JsonSerializer.Serialize(new
        {
            model = "stories260K",
            stream,
            messages = new[] { new { role = "user", content = string.Join(' ', Enumerable.Repeat("the little dog ran home", 100)) } },
        });
        using var response = await fixture.Server.Http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains("context", error.GetProperty("message").GetString());
    }
}
