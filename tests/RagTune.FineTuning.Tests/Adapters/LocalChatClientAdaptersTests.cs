using Microsoft.Extensions.AI;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Adapters;

public sealed class LocalChatClientAdaptersTests
{
    [Fact]
    public async Task A_peft_folder_loads_onto_a_client_and_a_request_naming_it_equals_the_merged_model()
    {
        using var dir = new TempDir();
        var config = TestModels.StoriesModel.Engine.Config;
        var adapter = new LoraAdapter(config, new LoraConfig(4, 8, 0), seed: 3);
        var rng = new Random(5);
        foreach (var p in adapter.Parameters)
            for (int i = 0; i < p.Values.Length; i++) p.Values[i] = (float)(rng.NextDouble() - 0.5) * 0.6f;
        PeftAdapter.Save(adapter, config, dir.Path, "stories260K");
        var options = new LocalChatClientOptions { ContextSize = 128, Threads = 2 };
        var chat = new ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        ChatMessage[] messages = [new(ChatRole.User, "Once upon a time")];

        var local = LocalModel.Load(TestModels.Stories);
        using var merged = new LocalChatClient(local.WithEngine(adapter.Merge(local.Engine)), options);
        var expected = (await merged.GetResponseAsync(messages, chat)).Text;

        using var client = new LocalChatClient(TestModels.Stories, options);
        client.AddAdapter("mine", dir.Path);
        var baseline = (await client.GetResponseAsync(messages, chat)).Text;
        chat.AdditionalProperties = new() { [LocalChatClient.AdapterProperty] = "mine" };
        var got = await client.GetResponseAsync(messages, chat);
        Assert.NotEqual(baseline, expected);
        Assert.Equal(expected, got.Text);
        Assert.Equal("stories260K+mine", got.ModelId);

        Assert.ThrowsAny<IOException>(() => client.AddAdapter("missing", dir.File("nothing")));
    }
}
