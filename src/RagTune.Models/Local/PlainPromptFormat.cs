using System.Text;
using Microsoft.Extensions.AI;

namespace RagTune.Models.Local;

/// <summary>
/// The prompt format used for models without a chat template (base models such as stories260K), and until
/// chat templates arrive. Documented in docs/prompt-format.md:
/// <code>
/// {system}\n\n            (only when there is a system message)
/// User: {text}\n
/// Assistant: {text}\n     (earlier assistant turns)
/// Assistant:              (the generation prompt)
/// </code>
/// Generation stops at "\nUser:" so the model does not write the user's next turn.
/// </summary>
internal static class PlainPromptFormat
{
    /// <summary>The stop string that ends an assistant turn.</summary>
    public const string TurnStop = "\nUser:";

    public static string Render(IEnumerable<ChatMessage> messages)
    {
        var sb = new StringBuilder();
        var system = new List<string>();
        var turns = new List<ChatMessage>();
        foreach (var m in messages)
        {
            if (m.Role == ChatRole.System) system.Add(m.Text);
            else turns.Add(m);
        }
        if (system.Count > 0) sb.Append(string.Join("\n", system)).Append("\n\n");
        foreach (var m in turns)
        {
            string who = m.Role == ChatRole.Assistant ? "Assistant" : m.Role == ChatRole.User ? "User"
                : m.Role == ChatRole.Tool ? "Tool" : throw new ArgumentException($"Chat role '{m.Role}' is not supported by the plain prompt format.", nameof(messages));
            sb.Append(who).Append(": ").Append(m.Text).Append('\n');
        }
        sb.Append("Assistant:");
        return sb.ToString();
    }
}
