using Microsoft.Extensions.AI;
using RagTune.FineTuning.Datasets;
using RagTune.Models.Local;
using RagTune.TestKit;
using RagTune.Tokenizers.ChatTemplates;

namespace RagTune.FineTuning.Tests.Datasets;

/// <summary>Training prompts rendered through a model's chat template (or the plain fallback), against inference's prompts.</summary>
public sealed class ChatTemplatePromptFormatTests
{
    private static readonly ChatTurn[] s_conversation =
    [
        new(TurnRole.System, "You answer about cats."),
        new(TurnRole.User, "what colour is the cat"),
        new(TurnRole.Assistant, "the cat is black"),
        new(TurnRole.User, "and its name"),
        new(TurnRole.Assistant, "its name is tom"),
    ];

    [Fact]
    public void Only_the_assistant_spans_and_their_end_of_turn_tokens_are_trained()
    {
        using var model = LocalModel.Load(TinyModels.GetChatMl("tiny-qwen2", "f32"));
        var template = TokenizerLoader.ResolveChatTemplate(model.Engine, model.Tokenizer, null).Template;
        Assert.Contains("tokenizer.chat_template", template.Source);
        var format = TrainingPromptFormats.For(template, model.Tokenizer);
        Assert.IsType<ChatTemplatePromptFormat>(format);
        var (tokens, trainable) = new DatasetTokenizer(model.Tokenizer, 256, format: format).Encode(s_conversation);

        var spans = Spans(trainable);
        Assert.Equal(2, spans.Count);
        int imEnd = model.Tokenizer.VocabSize - 1;
        Assert.Equal("<|im_end|>", model.Tokenizer.TokenText(imEnd));
        for (int i = 0; i < spans.Count; i++)
        {
            var (start, end) = spans[i];
            Assert.Equal(imEnd, tokens[end - 1]);
            var text = model.Tokenizer.Decode(tokens.GetRange(start, end - 1 - start).ToArray()).Trim();
            Assert.Equal(i == 0 ? "the cat is black" : "its name is tom", text);
        }
        // After the last <|im_end|> only the template's masked newline follows; no EOS is appended.
        Assert.True(string.IsNullOrWhiteSpace(model.Tokenizer.Decode(tokens.GetRange(spans[^1].End, tokens.Count - spans[^1].End).ToArray())));
        Assert.DoesNotContain(model.Tokenizer.EosId, tokens);
    }

    /// <summary>A ChatML model (its own template) and stories260K (no template: the plain fallback).</summary>
    public static TheoryData<string> Models => new() { "chatml", "plain" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Training_prompts_render_exactly_as_LocalChatClient_prompts_the_model(string kind)
    {
        var path = kind == "chatml" ? TinyModels.GetChatMl("tiny-qwen2", "f32") : TestModels.Stories;
        using var model = LocalModel.Load(path);
        using var client = new LocalChatClient(path, new LocalChatClientOptions { ContextSize = 256, Threads = 1 });
        var format = TrainingPromptFormats.For(TokenizerLoader.ResolveChatTemplate(model.Engine, model.Tokenizer, null).Template, model.Tokenizer);
        var (tokens, trainable) = new DatasetTokenizer(model.Tokenizer, 256, format: format).Encode(s_conversation);
        var spans = Spans(trainable);
        int span = 0;
        for (int i = 0; i < s_conversation.Length; i++)
        {
            if (s_conversation[i].Role != TurnRole.Assistant) continue;
            var messages = s_conversation.Take(i).Select(t => new ChatMessage(new ChatRole(t.Role.ToString().ToLowerInvariant()), t.Text));
            var prompt = client.EncodePrompt(messages);
            // What inference sends before the reply is exactly what training shows before the trained span.
            Assert.Equal(prompt, tokens.GetRange(0, spans[span++].Start));
        }
    }

    [Fact]
    public void A_model_without_a_template_keeps_the_plain_format()
    {
        var model = TestModels.StoriesModel;
        var template = TokenizerLoader.ResolveChatTemplate(model.Engine, model.Tokenizer, null).Template;
        Assert.Same(ChatTemplate.Plain, template);
        Assert.Same(PlainTrainingPromptFormat.Instance, TrainingPromptFormats.For(template, model.Tokenizer));
    }

    [Fact]
    public void A_conversation_the_template_rejects_is_reported_with_its_line()
    {
        using var dir = new TempDir();
        var data = dir.File("chat.jsonl");
        File.WriteAllText(data, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"}]}\n");
        using var model = LocalModel.Load(TinyModels.GetChatMl("tiny-qwen2", "f32"));
        var raising = ChatTemplate.Parse("{% for m in messages %}{% if m['role'] == 'assistant' %}{{ raise_exception('no assistant turns here') }}{% endif %}{{ m['content'] }}{% endfor %}", "test template");
        var tokenizer = new DatasetTokenizer(model.Tokenizer, 64, format: TrainingPromptFormats.For(raising, model.Tokenizer));
        var e = Assert.Throws<DatasetFormatException>(() => tokenizer.Tokenize(DatasetReader.Read(data, DatasetFormat.Auto)));
        Assert.Contains("chat.jsonl:1:", e.Message);
        Assert.Contains("no assistant turns here", e.Message);
    }

    private static List<(int Start, int End)> Spans(List<bool> trainable)
    {
        var spans = new List<(int, int)>();
        for (int i = 0; i < trainable.Count; i++)
        {
            if (!trainable[i]) continue;
            int start = i;
            while (i < trainable.Count && trainable[i]) i++;
            spans.Add((start, i));
        }
        return spans;
    }
}
