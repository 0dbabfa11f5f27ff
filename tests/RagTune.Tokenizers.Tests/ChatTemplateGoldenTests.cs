using System.Text.Json;
using RagTune.TestKit;
using RagTune.Tokenizers.ChatTemplates;

namespace RagTune.Tokenizers.Tests;

/// <summary>
/// Real chat templates (dev/reference/chat_templates/templates) rendered by RagTune's interpreter must equal what
/// Python's jinja2 rendered with Hugging Face's settings (dev/reference/chat_templates/render_golden.py), string
/// for string, and must raise where jinja2 raised.
/// </summary>
public sealed class ChatTemplateGoldenTests
{
    private static string Dir(params string[] parts) => SharedData.Repo(["dev", "reference", "chat_templates", .. parts]);

    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var file in Directory.GetFiles(Dir("golden"), "*.json").OrderBy(f => f, StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
                data.Add(Path.GetFileNameWithoutExtension(file), c.GetProperty("conversation").GetString()!, c.GetProperty("add_generation_prompt").GetBoolean());
        }
        return data;
    }

    [Fact]
    public void Goldens_cover_nine_templates()
    {
        Assert.Equal(9, Directory.GetFiles(Dir("golden"), "*.json").Length);
        Assert.Equal(9 * 12, Cases().Count);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_like_jinja2(string name, string conversation, bool addGenerationPrompt)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Dir("golden", name + ".json")));
        var root = doc.RootElement;
        var messages = root.GetProperty("conversations").GetProperty(conversation).EnumerateArray()
            .Select(m => (m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
        var expected = root.GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("conversation").GetString() == conversation && c.GetProperty("add_generation_prompt").GetBoolean() == addGenerationPrompt);
        var template = ChatTemplate.Parse(File.ReadAllText(Dir("templates", name + ".jinja")), name);
        var bos = root.GetProperty("bos_token").GetString()!;
        var eos = root.GetProperty("eos_token").GetString()!;

        if (expected.TryGetProperty("error", out var error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => template.Render(messages, addGenerationPrompt, bos, eos));
            Assert.True(e.RaisedByTemplate);
            Assert.Equal(error.GetString(), e.Message);
        }
        else
        {
            Assert.Equal(expected.GetProperty("output").GetString(), template.Render(messages, addGenerationPrompt, bos, eos));
        }
    }
}
