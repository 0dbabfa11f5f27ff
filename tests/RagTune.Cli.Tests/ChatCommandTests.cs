using System.Text.Json;
using RagTune.TestKit;

namespace RagTune.Cli.Tests;

public sealed class ChatCommandTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    [Fact]
    public void A_piped_conversation_streams_replies_and_saves_the_history()
    {
        using var dir = new TempDir();
        var saved = dir.File("conversation.json");
        var r = CliProcess.RunWithInput(TimeSpan.FromSeconds(120),
            $"Once upon a time\nAnd then?\n/save {saved}\n/reset\n/system Short stories.\nHello\n/exit\n",
            "chat", "--model", Stories, "--temperature", "0", "-n", "12");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("(saved 4 messages", r.Stderr);
        Assert.Contains("(conversation reset)", r.Stderr);
        Assert.Contains("(system prompt set; conversation reset)", r.Stderr);
        var messages = JsonDocument.Parse(File.ReadAllText(saved)).RootElement;
        Assert.Equal(4, messages.GetArrayLength());
        Assert.Equal("user", messages[0].GetProperty("role").GetString());
        Assert.Equal("And then?", messages[2].GetProperty("content").GetString());
        Assert.Equal("assistant", messages[3].GetProperty("role").GetString());
        Assert.Equal(3, r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // three replies
    }

    [Fact]
    public void Unknown_commands_explain_the_known_ones()
    {
        var r = CliProcess.RunWithInput(TimeSpan.FromSeconds(60), "/frobnicate\n", "chat", "--model", Stories);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("unknown command /frobnicate", r.Stderr);
        Assert.Contains("/reset", r.Stderr);
    }
}
