namespace RagTune.Tokenizers.ChatTemplates;

/// <summary>The template a model will use, and why.</summary>
/// <param name="Template">What to render with.</param>
/// <param name="IsFallback">True when the model's own template was missing or could not be used.</param>
/// <param name="Warning">For the user when <paramref name="IsFallback"/> is true: what went wrong and what is used instead.</param>
public sealed record ChatTemplateSelection(ChatTemplate Template, bool IsFallback, string? Warning);

/// <summary>
/// Picks the chat template for a model: its own (GGUF <c>tokenizer.chat_template</c> or tokenizer_config.json
/// <c>chat_template</c>) when RagTune can parse it and render a probe conversation with it; otherwise the documented
/// fallback — <see cref="ChatTemplate.ChatMl"/> when the vocabulary has a <c>&lt;|im_start|&gt;</c> token, else
/// <see cref="ChatTemplate.Plain"/> (<c>User: …\nAssistant:</c>) — with a warning that says which and why.
/// </summary>
public static class ChatTemplateResolver
{
    /// <summary>Chooses the template; never throws for a bad template (that becomes the warning).</summary>
    /// <param name="templateText">The model's template text, or null when it has none.</param>
    /// <param name="source">Where the text came from, for the warning.</param>
    /// <param name="tokenizer">The model's tokenizer, to see whether it knows <c>&lt;|im_start|&gt;</c>.</param>
    public static ChatTemplateSelection Resolve(string? templateText, string source, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Resolve(templateText, source, HasSingleToken(tokenizer, "<|im_start|>"), BosText(tokenizer), EosText(tokenizer));
    }

    /// <summary>As <see cref="Resolve(string?, string, ITokenizer)"/> with the vocabulary facts given directly.</summary>
    public static ChatTemplateSelection Resolve(string? templateText, string source, bool vocabHasImStart, string bosToken = "", string eosToken = "")
    {
        var fallback = vocabHasImStart ? ChatTemplate.ChatMl : ChatTemplate.Plain;
        var fallbackName = vocabHasImStart ? "ChatML (<|im_start|>role\\n…<|im_end|>)" : "the plain format (User: …\\nAssistant:)";
        if (string.IsNullOrWhiteSpace(templateText))
            return new ChatTemplateSelection(fallback, true, $"{source}: the model has no chat template; using {fallbackName}.");
        try
        {
            var template = ChatTemplate.Parse(templateText, source);
            // Probe: a template that cannot render one user turn is of no use; one that rejects a conversation
            // on purpose (raise_exception) still works.
            try
            {
                template.Render([("user", "Hello")], addGenerationPrompt: true, bosToken, eosToken);
            }
            catch (ChatTemplateException e) when (e.RaisedByTemplate)
            {
            }
            return new ChatTemplateSelection(template, false, null);
        }
        catch (ChatTemplateException e)
        {
            return new ChatTemplateSelection(fallback, true, $"the model's chat template cannot be used ({e.Message}); using {fallbackName} instead, which may not match the model's training format.");
        }
    }

    /// <summary>Whether <paramref name="text"/> encodes to exactly one id whose piece is <paramref name="text"/>.</summary>
    public static bool HasSingleToken(ITokenizer tokenizer, string text)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var ids = tokenizer.Encode(text, addBos: false);
        return ids.Count == 1 && tokenizer.TokenText(ids[0]) == text;
    }

    /// <summary>The text of the BOS token, or "" (what templates get as <c>bos_token</c>).</summary>
    public static string BosText(ITokenizer tokenizer) => tokenizer.BosId >= 0 ? tokenizer.TokenText(tokenizer.BosId) : "";

    /// <summary>The text of the EOS token, or "" (what templates get as <c>eos_token</c>).</summary>
    public static string EosText(ITokenizer tokenizer) => tokenizer.EosId >= 0 ? tokenizer.TokenText(tokenizer.EosId) : "";
}
