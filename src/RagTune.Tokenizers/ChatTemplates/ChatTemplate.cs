using System.Text.Json;

namespace RagTune.Tokenizers.ChatTemplates;

/// <summary>
/// A model's chat template (GGUF <c>tokenizer.chat_template</c>, tokenizer_config.json <c>chat_template</c>): Jinja
/// text that turns a conversation into the prompt string the model was trained on. RagTune parses it once with its
/// own Jinja-subset interpreter (<see cref="JinjaParser"/>, <see cref="JinjaInterpreter"/>) and renders it exactly
/// as Hugging Face's <c>apply_chat_template</c> does with jinja2 (trim_blocks, lstrip_blocks, <c>raise_exception</c>,
/// <c>tojson</c>): for/if/elif/else/set (also <c>namespace()</c> attributes), loop.first/last/index/index0/length,
/// filters trim/length/upper/lower/capitalize/title/tojson/default/join/first/last/replace/selectattr…,
/// <c>+</c>/<c>~</c> concatenation, comparisons, <c>in</c>, <c>is defined</c>/<c>is none</c>/<c>is string</c>…,
/// slicing (<c>messages[1:]</c>), and string/dict methods (<c>.strip()</c>, <c>.get()</c>, <c>.items()</c>).
/// Immutable and thread-safe once parsed.
/// </summary>
/// <remarks>
/// Anything outside the subset (macros, <c>strftime_now</c>, unknown filters) fails with a
/// <see cref="ChatTemplateException"/> naming the construct and line; <see cref="ChatTemplateResolver"/> turns that into a
/// warning and a fallback format.
/// </remarks>
public sealed class ChatTemplate
{
    private readonly JinjaNode[] _nodes;

    private ChatTemplate(string text, string source, JinjaNode[] nodes)
    {
        Text = text;
        Source = source;
        _nodes = nodes;
    }

    /// <summary>The template text.</summary>
    public string Text { get; }

    /// <summary>Where the template came from (e.g. "model.gguf (tokenizer.chat_template)"), used in messages.</summary>
    public string Source { get; }

    /// <summary>ChatML, RagTune's fallback for vocabularies with <c>&lt;|im_start|&gt;</c> (no default system prompt).</summary>
    public static ChatTemplate ChatMl { get; } = Parse(
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        "RagTune fallback (ChatML)");

    /// <summary>
    /// The plain fallback for vocabularies without chat tokens: <c>System: …</c>, <c>User: …</c>,
    /// <c>Assistant: …</c> lines, ending with <c>Assistant:</c> when a reply is wanted.
    /// </summary>
    public static ChatTemplate Plain { get; } = Parse(
        "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}",
        "RagTune fallback (plain)");

    /// <summary>Parses <paramref name="template"/>.</summary>
    /// <param name="template">The Jinja text.</param>
    /// <param name="source">Where it came from, for error messages; null gives "chat template".</param>
    /// <exception cref="ChatTemplateException">The text uses syntax the interpreter does not support, or is malformed.</exception>
    public static ChatTemplate Parse(string template, string? source)
    {
        ArgumentNullException.ThrowIfNull(template);
        var name = source ?? "chat template";
        return new ChatTemplate(template, name, JinjaParser.Parse(template, name));
    }

    /// <summary>
    /// Renders <paramref name="messages"/> (roles such as system, user, assistant) into the prompt text.
    /// Templates read <c>messages</c>, <c>add_generation_prompt</c>, <c>bos_token</c> and <c>eos_token</c>.
    /// </summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="addGenerationPrompt">Append the header that opens the assistant's reply.</param>
    /// <param name="bosToken">The vocabulary's BOS text (e.g. <c>&lt;s&gt;</c>), or "" when it has none.</param>
    /// <param name="eosToken">The vocabulary's EOS text (e.g. <c>&lt;/s&gt;</c>), or "".</param>
    /// <exception cref="ChatTemplateException">
    /// The template rejected the conversation (<see cref="ChatTemplateException.RaisedByTemplate"/>, e.g. roles that do
    /// not alternate) or failed to evaluate.
    /// </exception>
    public string Render(IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt, string bosToken, string eosToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<object?>(messages.Count);
        foreach (var (role, content) in messages)
            list.Add(new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = role, ["content"] = content });
        var globals = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = list,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = bosToken ?? "",
            ["eos_token"] = eosToken ?? "",
        };
        return JinjaInterpreter.Render(_nodes, Source, globals);
    }

    /// <summary>
    /// As <see cref="Render"/>, but when the template rejects a leading system message (Gemma 1/2: "System role
    /// not supported"; Mistral v0.1: "Only user and assistant roles are supported!"), folds it into the first user
    /// message as <c>system + "\n\n" + user</c> — what Gemma 3's and Mistral's later templates do themselves — and
    /// renders again.
    /// </summary>
    /// <exception cref="ChatTemplateException">The template still rejects the conversation, or failed.</exception>
    public string RenderFoldingSystem(IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt, string bosToken, string eosToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        try
        {
            return Render(messages, addGenerationPrompt, bosToken, eosToken);
        }
        catch (ChatTemplateException e) when (e.RaisedByTemplate && messages.Count > 0 && messages[0].Role == "system")
        {
            var folded = new List<(string Role, string Content)>(messages.Count);
            var system = messages[0].Content;
            if (messages.Count > 1 && messages[1].Role == "user")
            {
                folded.Add(("user", system + "\n\n" + messages[1].Content));
                folded.AddRange(messages.Skip(2));
            }
            else
            {
                folded.Add(("user", system));
                folded.AddRange(messages.Skip(1));
            }
            return Render(folded, addGenerationPrompt, bosToken, eosToken);
        }
    }

    /// <summary>
    /// Reads <c>chat_template</c> from a tokenizer_config.json: a string, or a list of <c>{name, template}</c> of
    /// which the one named <c>default</c> (else the first) is taken. Returns null when the key is absent.
    /// </summary>
    /// <exception cref="TokenizerFormatException">The file is not JSON or the key has another shape.</exception>
    public static string? ReadFromTokenizerConfig(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (!doc.RootElement.TryGetProperty("chat_template", out var t) || t.ValueKind == JsonValueKind.Null)
                return null;
            if (t.ValueKind == JsonValueKind.String)
                return t.GetString();
            if (t.ValueKind == JsonValueKind.Array)
            {
                var named = t.EnumerateArray().Select(e => (Name: e.GetProperty("name").GetString(), Template: e.GetProperty("template").GetString())).ToList();
                return (named.FirstOrDefault(n => n.Name == "default") is { Template: not null } d ? d : named.FirstOrDefault()).Template;
            }
            throw new TokenizerFormatException(path, null, "'chat_template' is neither a string nor a list of {name, template}.");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new TokenizerFormatException(path, null, $"cannot read 'chat_template' ({e.Message}).", e);
        }
    }
}
