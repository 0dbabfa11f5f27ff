using System.Text;
using RagTune.Tokenizers;
using RagTune.Tokenizers.ChatTemplates;

namespace RagTune.FineTuning.Datasets;

/// <summary>
/// Renders training conversations through the model's own chat template, exactly as <c>LocalChatClient</c> renders
/// prompts at inference (<see cref="ChatTemplate.RenderFoldingSystem"/>, then <see cref="ChatPromptEncoder"/>), so a
/// fine-tuned model is asked the way it was taught. Each assistant turn's span is found by rendering the conversation
/// up to it with the generation prompt (what inference sends) and through it without (what the template writes for the
/// reply): the difference, trailing whitespace aside, is trained: the answer and the template's end-of-turn text
/// (<c>&lt;|im_end|&gt;</c>, <c>&lt;|eot_id|&gt;</c>, …), so the model learns to stop. Everything else is masked.
/// </summary>
internal sealed class ChatTemplatePromptFormat(ChatTemplate template, ChatPromptEncoder encoder) : ITrainingPromptFormat
{
    public string Name => "chat-template";

    /// <summary>The template's end-of-turn text ends each answer; no EOS is added.</summary>
    public bool AppendEos => false;

    public void Encode(ITokenizer tokenizer, string text, List<int> output) => output.AddRange(encoder.Encode(text));

    public IReadOnlyList<PromptSegment> Render(IReadOnlyList<ChatTurn> turns)
    {
        var messages = turns.Select(t => (Role(t.Role), t.Text)).ToList();
        var segments = new List<PromptSegment>();
        var soFar = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            if (turns[i].Role != TurnRole.Assistant) continue;
            string prompt = Render(messages.GetRange(0, i), addGenerationPrompt: true);
            string through = Render(messages.GetRange(0, i + 1), addGenerationPrompt: false);
            string done = soFar.ToString();
            if (!prompt.StartsWith(done, StringComparison.Ordinal) || !through.StartsWith(prompt, StringComparison.Ordinal))
                throw new ChatTemplateException(
                    $"{template.Source}: the chat template renders assistant turn {i + 1} in a way that does not extend the prompt before it (it rewrites earlier turns or the generation prompt), so the answer span cannot be masked. Train on single-turn examples, or with a model whose template renders conversations incrementally.");
            segments.Add(new PromptSegment(prompt[done.Length..], false));
            string answer = through[prompt.Length..].TrimEnd();
            segments.Add(new PromptSegment(answer, true));
            soFar.Clear().Append(prompt).Append(answer);
        }
        string full = Render(messages, addGenerationPrompt: false);
        string emitted = soFar.ToString();
        if (!full.StartsWith(emitted, StringComparison.Ordinal))
            throw new ChatTemplateException($"{template.Source}: the chat template renders the whole conversation differently from its turns one by one, so the answer spans cannot be masked.");
        if (full.Length > emitted.Length) segments.Add(new PromptSegment(full[emitted.Length..], false));
        return segments;
    }

    private string Render(List<(string Role, string Text)> messages, bool addGenerationPrompt) =>
        template.RenderFoldingSystem(messages, addGenerationPrompt, encoder.BosText, encoder.EosText);

    private static string Role(TurnRole role) => role switch
    {
        TurnRole.System => "system",
        TurnRole.User => "user",
        _ => "assistant",
    };
}

/// <summary>Chooses the training prompt format for a model: the chat template inference uses, or the plain format.</summary>
internal static class TrainingPromptFormats
{
    /// <summary>
    /// <paramref name="template"/> when it is a real chat template (the model's own, or the ChatML fallback its vocabulary
    /// calls for); the plain format when inference falls back to plain text.
    /// </summary>
    public static ITrainingPromptFormat For(ChatTemplate template, ITokenizer tokenizer) =>
        ReferenceEquals(template, ChatTemplate.Plain) ? PlainTrainingPromptFormat.Instance : new ChatTemplatePromptFormat(template, new ChatPromptEncoder(tokenizer));
}
