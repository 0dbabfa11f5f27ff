using System.Text;
using RagTune.Tokenizers;

namespace RagTune.FineTuning.Datasets;

/// <summary>A piece of rendered prompt text; <see cref="Trainable"/> pieces are the ones the loss covers.</summary>
public readonly record struct PromptSegment(string Text, bool Trainable);

/// <summary>
/// Renders a training conversation into text segments, marking which the model learns to produce. The one
/// seam where chat templates plug in: a template renders the same conversation, the answers stay trainable.
/// </summary>
internal interface ITrainingPromptFormat
{
    /// <summary>A short name for reports and checkpoints.</summary>
    string Name { get; }

    /// <summary>The conversation as consecutive segments; concatenated they are exactly the prompt text.</summary>
    IReadOnlyList<PromptSegment> Render(IReadOnlyList<ChatTurn> turns);

    /// <summary>Whether EOS follows a final trained answer (formats without an end-of-turn token of their own).</summary>
    bool AppendEos => true;

    /// <summary>Token ids of rendered text, with the BOS the model expects, exactly as inference would encode it.</summary>
    void Encode(ITokenizer tokenizer, string text, List<int> output) => tokenizer.Encode(text, addBos: tokenizer.BosId >= 0, output);
}

/// <summary>
/// The plain format of docs/prompt-format.md, exactly what <c>ChatTemplate.Plain</c> renders and
/// <c>LocalChatClient</c> prompts a template-less model with, so an adapter trained here is asked questions the way it
/// was taught. Turns render in order:
/// <code>
/// System: {system}\n    (masked)
/// User: {text}\n        (masked)
/// Assistant:            (masked)
///  {answer}             (trained; the final answer is followed by EOS, also trained)
/// \n                    (masked, after earlier answers only)
/// </code>
/// </summary>
public sealed class PlainTrainingPromptFormat : ITrainingPromptFormat
{
    /// <summary>The one instance (the format has no settings).</summary>
    public static readonly PlainTrainingPromptFormat Instance = new();

    /// <summary>The format's name in reports: "plain".</summary>
    public string Name => "plain";

    /// <summary>The conversation as text segments in order, each marked trained or masked as shown above.</summary>
    public IReadOnlyList<PromptSegment> Render(IReadOnlyList<ChatTurn> turns)
    {
        var segments = new List<PromptSegment>();
        var pending = new StringBuilder();
        for (int i = 0; i < turns.Count; i++)
        {
            var t = turns[i];
            if (t.Role != TurnRole.Assistant)
            {
                pending.Append(t.Role == TurnRole.System ? "System: " : "User: ").Append(t.Text).Append('\n');
                continue;
            }
            pending.Append("Assistant:");
            segments.Add(new PromptSegment(pending.ToString(), false));
            pending.Clear();
            segments.Add(new PromptSegment(" " + t.Text.Trim(), true));
            if (i < turns.Count - 1) pending.Append('\n');
        }
        if (pending.Length > 0) segments.Add(new PromptSegment(pending.ToString(), false));
        return segments;
    }
}
