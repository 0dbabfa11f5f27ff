using System.Text;
using RagTune.Tokenizers;

namespace RagTune.FineTuning.Datasets;

/// <summary>A piece of rendered prompt text; <see cref="Trainable"/> pieces are the ones the loss covers.</summary>
internal readonly record struct PromptSegment(string Text, bool Trainable);

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
/// The plain format of docs/prompt-format.md, the one <c>LocalChatClient</c> prompts with, so an adapter trained
/// here is asked questions the way it was taught:
/// <code>
/// {system}\n\n          (masked)
/// User: {text}\n        (masked)
/// Assistant:            (masked)
///  {answer}             (trained; the final answer is followed by EOS, also trained)
/// \n                    (masked, after earlier answers only)
/// </code>
/// </summary>
internal sealed class PlainTrainingPromptFormat : ITrainingPromptFormat
{
    public static readonly PlainTrainingPromptFormat Instance = new();

    public string Name => "plain";

    public IReadOnlyList<PromptSegment> Render(IReadOnlyList<ChatTurn> turns)
    {
        var segments = new List<PromptSegment>();
        var system = turns.Where(t => t.Role == TurnRole.System).Select(t => t.Text).ToList();
        var pending = new StringBuilder();
        if (system.Count > 0) pending.Append(string.Join("\n", system)).Append("\n\n");
        var rest = turns.Where(t => t.Role != TurnRole.System).ToList();
        for (int i = 0; i < rest.Count; i++)
        {
            var t = rest[i];
            if (t.Role == TurnRole.User)
            {
                pending.Append("User: ").Append(t.Text).Append('\n');
                continue;
            }
            pending.Append("Assistant:");
            segments.Add(new PromptSegment(pending.ToString(), false));
            pending.Clear();
            segments.Add(new PromptSegment(" " + t.Text.Trim(), true));
            if (i < rest.Count - 1) pending.Append('\n');
        }
        if (pending.Length > 0) segments.Add(new PromptSegment(pending.ToString(), false));
        return segments;
    }
}
