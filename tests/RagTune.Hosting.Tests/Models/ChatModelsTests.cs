using Microsoft.Extensions.AI;
using RagTune.Hosting.Models;
using RagTune.Models.Local;
using RagTune.Models.Remote;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Models;

/// <summary>The one factory of chat models from settings: local files with their options, remote URLs with their keys, and refusals naming the setting.</summary>
public sealed class ChatModelsTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    [Fact]
    public async Task A_local_model_comes_with_its_settings_and_answers()
    {
        using var client = ChatModels.Create(new ChatModelSettings { Model = Stories, Threads = 1, ContextSize = 64, Slots = 2 });
        Assert.IsType<LocalChatClient>(client);
        var reply = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
        Assert.False(string.IsNullOrWhiteSpace(reply.Text));
    }

    [Fact]
    public void A_remote_url_gets_its_model_and_the_explicit_key_wins()
    {
        using var client = ChatModels.Create(new ChatModelSettings { Remote = "http://127.0.0.1:9/v1", ApiKey = "k1", ApiKeyEnv = "RAGTUNE_TEST_UNSET_VARIABLE" });
        var remote = Assert.IsType<OpenAICompatibleChatClient>(client);
        Assert.Equal("default", remote.Model);
        Assert.Equal(new Uri("http://127.0.0.1:9/v1"), remote.BaseUrl);

        using var named = ChatModels.Create(new ChatModelSettings { Remote = "http://127.0.0.1:9/v1", RemoteModel = "qwen" });
        Assert.Equal("qwen", Assert.IsType<OpenAICompatibleChatClient>(named).Model);
    }

    [Theory]
    [InlineData(null, null, null, "Model")]
    [InlineData("m.gguf", "http://127.0.0.1:9/v1", null, "Model")]
    [InlineData(null, "http://127.0.0.1:9/v1", "adapter-dir", "Adapter")]
    [InlineData(null, "ftp://127.0.0.1/v1", null, "Remote")]
    [InlineData(null, "no-such-endpoint-name", null, "Remote")]
    public void Bad_settings_are_refused_naming_the_setting(string? model, string? remote, string? adapter, string field)
    {
        var e = Assert.Throws<HostingException>(() => ChatModels.Create(new ChatModelSettings { Model = model, Remote = remote, Adapter = adapter }));
        Assert.Equal((HostingFailure.Invalid, field), (e.Failure, e.Field));
    }

    [Fact]
    public void A_missing_key_variable_and_out_of_range_numbers_are_refused_by_name()
    {
        var key = Assert.Throws<HostingException>(() => ChatModels.Create(new ChatModelSettings { Remote = "http://127.0.0.1:9/v1", ApiKeyEnv = "RAGTUNE_TEST_UNSET_VARIABLE" }));
        Assert.Equal("ApiKeyEnv", key.Field);
        Assert.Contains("RAGTUNE_TEST_UNSET_VARIABLE", key.Message);
        Assert.Equal("Slots", Assert.Throws<HostingException>(() => ChatModels.Create(new ChatModelSettings { Model = Stories, Slots = 0 })).Field);
        Assert.Equal("Threads", Assert.Throws<HostingException>(() => ChatModels.Create(new ChatModelSettings { Model = Stories, Threads = -1 })).Field);
    }
}
