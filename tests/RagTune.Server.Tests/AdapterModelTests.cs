using System.ClientModel;
using OpenAI;
using OpenAI.Chat;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;
using RagTune.Models.Local;
using RagTune.TestKit;
using AI = Microsoft.Extensions.AI;

namespace RagTune.Server.Tests;

[Trait("Category", "Slow")]
public sealed class AdapterModelTests
{
    private static readonly string s_model = SharedData.File("models", "stories260k", "stories260K.gguf");

    [Fact]
    public async Task A_configured_adapter_is_listed_and_answers_as_the_client_built_with_it()
    {
        using var dir = new TempDir();
        WriteRandomAdapter(dir.Path);
        using var models = ModelRegistry.LoadLocal(new ServerOptions { Models = [s_model], Adapters = [$"mine={dir.Path}"], Threads = 1, ContextSize = 128 });
        await using var server = await RunningServer.StartAsync(models);
        var openai = new OpenAIClient(new ApiKeyCredential("unused-key"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseUrl + "/v1") });

        var ids = (await openai.GetOpenAIModelClient().GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.Equal(["stories260K", "stories260K+mine"], ids);

        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };
        ChatMessage[] messages = [new UserChatMessage("Once upon a time")];
        var baseline = (await openai.GetChatClient("stories260K").CompleteChatAsync(messages, options)).Value;
        var adapted = (await openai.GetChatClient("stories260K+mine").CompleteChatAsync(messages, options)).Value;

        using var direct = new LocalChatClient(s_model, new LocalChatClientOptions { Threads = 1, ContextSize = 128 });
        direct.AddAdapter("other", dir.Path);
        var expected = await direct.GetResponseAsync([new AI.ChatMessage(AI.ChatRole.User, "Once upon a time")],
            new AI.ChatOptions { Temperature = 0, MaxOutputTokens = 12, ModelId = "stories260K+other" });

        Assert.NotEqual(baseline.Content[0].Text, adapted.Content[0].Text);
        Assert.Equal(expected.Text, adapted.Content[0].Text);
        Assert.Equal("stories260K+mine", adapted.Model);
    }

    [Fact]
    public void An_adapter_for_another_shape_or_a_missing_folder_is_an_options_error_naming_the_entry()
    {
        using var dir = new TempDir();
        var missing = Assert.Throws<ServerOptionsException>(() =>
            new ServerOptions { Adapters = [$"mine={dir.File("nope")}"] }.Validate());
        Assert.Contains("Server:Adapters:0", missing.Message);

        var shape = Assert.Throws<ServerOptionsException>(() => new ServerOptions { Adapters = ["just-a-name"] }.Validate());
        Assert.Contains("model=name=folder", shape.Message);

        // An empty folder is no adapter: the load at start fails and names the entry.
        var notAdapter = Assert.Throws<ServerOptionsException>(() =>
            ModelRegistry.LoadLocal(new ServerOptions { Models = [s_model], Adapters = [$"stories260K=mine={dir.Path}"], Threads = 1, ContextSize = 128 }));
        Assert.Contains("Server:Adapters:0", notAdapter.Message);
        Assert.Contains("mine", notAdapter.Message);

        var unknownBase = Assert.Throws<ServerOptionsException>(() =>
            ModelRegistry.LoadLocal(new ServerOptions { Models = [s_model], Adapters = [$"other=mine={dir.Path}"], Threads = 1, ContextSize = 128 }));
        Assert.Contains("'other'", unknownBase.Message);
    }

    // Random nonzero A and B so the adapter changes the greedy answer; written through our own PEFT writer.
    private static void WriteRandomAdapter(string folder)
    {
        using var model = LocalModel.Load(s_model);
        var config = model.Engine.Config;
        var adapter = new LoraAdapter(config, new LoraConfig(4, 8, 0), seed: 3);
        var rng = new Random(5);
        foreach (var p in adapter.Parameters)
            for (int i = 0; i < p.Values.Length; i++) p.Values[i] = (float)(rng.NextDouble() - 0.5) * 0.6f;
        PeftAdapter.Save(adapter, config, folder, "stories260K");
    }
}
