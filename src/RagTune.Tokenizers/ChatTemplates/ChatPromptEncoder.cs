namespace RagTune.Tokenizers.ChatTemplates;

/// <summary>
/// Turns a rendered chat prompt into ids for one tokenizer: control-token texts the template wrote
/// (<c>&lt;s&gt;</c>, <c>&lt;|eot_id|&gt;</c>, <c>&lt;start_of_turn&gt;</c>, …) become their ids even for tokenizers
/// that keep written control text literal (SentencePiece), as llama.cpp's <c>parse_special = true</c> does; a BOS is
/// added only when the model wants one and the template did not already write it. Also lists the ids that end an
/// assistant turn. Build one per tokenizer (it scans the vocabulary once); immutable and thread-safe.
/// </summary>
public sealed class ChatPromptEncoder
{
    /// <summary>End-of-turn texts of the supported chat formats (ChatML, Llama 3, Phi, Gemma, Llama 2/Mistral/Zephyr, GPT-2).</summary>
    private static readonly string[] s_turnEndTexts = ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>", "<|endoftext|>", "<|end_of_text|>"];

    private readonly ITokenizer _tokenizer;
    private readonly (string Text, int Id)[] _controls; // longest first
    private readonly bool _wantsBos;

    /// <summary>Scans <paramref name="tokenizer"/> for control tokens.</summary>
    public ChatPromptEncoder(ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        var controls = new List<(string, int)>();
        for (var id = 0; id < tokenizer.VocabSize; id++)
        {
            if (tokenizer.IsControl(id) && tokenizer.TokenText(id) is { Length: > 1 } text)
                controls.Add((text, id));
        }
        _controls = [.. controls.OrderByDescending(c => c.Item1.Length).ThenBy(c => c.Item2)];
        // SentencePiece models (Llama 2, Mistral, Gemma, llama2.c) always start with BOS; byte-level ones only when
        // their tokenizer says so (Llama 3: yes; GPT-2, SmolLM2, Qwen2: no).
        _wantsBos = tokenizer.BosId >= 0 && (tokenizer is not ByteLevelBpeTokenizer bpe || bpe.AddBosByDefault);
        BosText = ChatTemplateResolver.BosText(tokenizer);
        EosText = ChatTemplateResolver.EosText(tokenizer);
        TurnEndIds = [.. s_turnEndTexts.Select(t => IdOf(t)).Where(id => id >= 0).Append(tokenizer.EosId).Where(id => id >= 0).Distinct()];
    }

    /// <summary>The BOS token's text, or "": pass it to <see cref="ChatTemplate.Render"/> as <c>bos_token</c>.</summary>
    public string BosText { get; }

    /// <summary>The EOS token's text, or "": pass it to <see cref="ChatTemplate.Render"/> as <c>eos_token</c>.</summary>
    public string EosText { get; }

    /// <summary>Ids after which generation should stop: EOS plus the vocabulary's end-of-turn tokens.</summary>
    public IReadOnlyList<int> TurnEndIds { get; }

    /// <summary>Encodes a rendered prompt (see the class remarks for BOS and control-token handling).</summary>
    public List<int> Encode(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var output = new List<int>(prompt.Length / 3 + 4);
        if (_wantsBos && !(BosText.Length > 0 && prompt.StartsWith(BosText, StringComparison.Ordinal)))
            output.Add(_tokenizer.BosId);
        var start = 0;
        for (var i = 0; i < prompt.Length; i++)
        {
            if (prompt[i] != '<' && prompt[i] != '[')
                continue; // every known control text starts with '<' or '['
            foreach (var (text, id) in _controls)
            {
                if (!prompt.AsSpan(i).StartsWith(text, StringComparison.Ordinal))
                    continue;
                if (i > start)
                    _tokenizer.Encode(prompt[start..i], addBos: false, output);
                output.Add(id);
                start = i + text.Length;
                i = start - 1;
                break;
            }
        }
        if (start < prompt.Length)
            _tokenizer.Encode(prompt[start..], addBos: false, output);
        return output;
    }

    private int IdOf(string text)
    {
        foreach (var (t, id) in _controls)
        {
            if (t == text)
                return id;
        }
        return ChatTemplateResolver.HasSingleToken(_tokenizer, text) ? _tokenizer.Encode(text, addBos: false)[0] : -1;
    }
}
