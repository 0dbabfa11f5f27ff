using Microsoft.Extensions.AI;
using RagTune.Engine.Training;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Local;

/// <summary>One base with several LoRA adapters, picked per request, against one merged model per adapter.</summary>
public sealed class LocalChatClientAdapterTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static readonly LocalChatClientOptions s_options = new() { ContextSize = 256, Threads = 2 };

    private static readonly ChatMessage[] s_conversation =
        [new ChatMessage(ChatRole.System, "Stories for children."), new ChatMessage(ChatRole.User, "Once upon a time")];

    [Fact]
    public async Task Each_request_runs_with_the_adapter_it_names_and_equals_that_adapter_merged()
    {
        using var probe = LocalModel.Load(Stories);
        var config = probe.Engine.Config;
        var adapters = new Dictionary<string, LoraAdapter>
        {
            ["fox"] = Adapter(config, LoraTargets.All, shift: 0),
            ["robot"] = Adapter(config, LoraTargets.K | LoraTargets.V | LoraTargets.Down, shift: 2),
        };
        var expected = new Dictionary<string, string> { [""] = await Reply(new LocalChatClient(LocalModel.Load(Stories), s_options), null) };
        foreach (var (name, adapter) in adapters)
        {
            var local = LocalModel.Load(Stories);
            expected[name] = await Reply(new LocalChatClient(local.WithEngine(adapter.Merge(local.Engine)), s_options), null);
        }
        Assert.Equal(3, expected.Values.Distinct().Count()); // the adapters change the greedy reply, else this test proves nothing

        using var client = new LocalChatClient(LocalModel.Load(Stories), s_options);
        foreach (var (name, adapter) in adapters) client.AddAdapter(name, adapter);
        Assert.Equal(["fox", "robot"], client.AdapterNames.Order());
        // The same conversation each time: a KV cache kept across a switch would reuse the other adapter's prefix.
        foreach (var name in new[] { "fox", "robot", "", "robot", "fox", "" })
        {
            var options = Greedy();
            if (name.Length > 0) options.AdditionalProperties = new() { [LocalChatClient.AdapterProperty] = name };
            var response = await client.GetResponseAsync(s_conversation, options);
            Assert.Equal(expected[name], response.Text);
            Assert.Equal(name.Length > 0 ? "stories260K+" + name : "stories260K", response.ModelId);
        }

        var byModelId = Greedy();
        byModelId.ModelId = "stories260K+robot";
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(s_conversation, byModelId)) updates.Add(u);
        Assert.Equal(expected["robot"], string.Concat(updates.Select(u => u.Text)));
        Assert.All(updates, u => Assert.Equal("stories260K+robot", u.ModelId));

        // A model opened with an adapter (what --adapter does) runs it whenever a request names no other.
        using var withDefault = new LocalChatClient(LocalModel.Load(Stories).WithAdapter(new LoraDelta(adapters["fox"], config)), s_options);
        Assert.Equal(expected["fox"], (await withDefault.GetResponseAsync(s_conversation, Greedy())).Text);
    }

    [Fact]
    public async Task Unknown_adapter_names_and_bad_names_fail_with_the_loaded_names()
    {
        using var client = new LocalChatClient(Stories, s_options);
        var none = Greedy();
        none.ModelId = "stories260K+nope";
        var e = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(s_conversation, none));
        Assert.Contains("no adapter is loaded", e.Message);

        using var probe = LocalModel.Load(Stories);
        client.AddAdapter("fox", Adapter(probe.Engine.Config, LoraTargets.Q, shift: 1));
        e = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(s_conversation, none));
        Assert.Contains("'nope'", e.Message);
        Assert.Contains("fox", e.Message);
        Assert.Throws<ArgumentException>(() => client.AddAdapter("fox", Adapter(probe.Engine.Config, LoraTargets.Q, shift: 1)));
        Assert.Throws<ArgumentException>(() => client.AddAdapter("a+b", Adapter(probe.Engine.Config, LoraTargets.Q, shift: 1)));
    }

    private static ChatOptions Greedy() => new() { Temperature = 0, MaxOutputTokens = 16, Seed = 1 };

    private static async Task<string> Reply(LocalChatClient client, ChatOptions? extra)
    {
        using (client)
            return (await client.GetResponseAsync(s_conversation, extra ?? Greedy())).Text;
    }

    private static LoraAdapter Adapter(Engine.Models.ModelConfig config, LoraTargets targets, int shift)
    {
        var adapter = new LoraAdapter(config, new LoraConfig(Rank: 4, Alpha: 8, Targets: targets), seed: 3);
        for (int k = 0; k < adapter.Parameters.Count; k++)
        {
            var values = adapter.Parameters[k].Values;
            for (int j = 0; j < values.Length; j++) values[j] = (float)(0.3 * Math.Sin(0.37 * j + 1.3 * k + 0.5 + shift));
        }
        return adapter;
    }
}
