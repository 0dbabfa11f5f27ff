namespace RagTune.Tokenizers;

/// <summary>
/// How a byte-level BPE model splits text into words before merging. Each value is one regex from a real
/// tokenizer.json <c>pre_tokenizer</c> (and llama.cpp's <c>LLAMA_VOCAB_PRE_TYPE_*</c>), implemented by hand over
/// Unicode scalars in <see cref="ByteLevelPreTokenizer"/> so categories of supplementary-plane characters are exact.
/// </summary>
public enum ByteLevelPreTokenizerKind
{
    /// <summary>
    /// GPT-2 (<c>tokenizer.ggml.pre = gpt-2</c>): <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.
    /// </summary>
    Gpt2,

    /// <summary>
    /// Llama 3 (<c>llama-bpe</c>): <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>.
    /// </summary>
    Llama3,

    /// <summary>Qwen2 / Qwen2.5 (<c>qwen2</c>): the Llama 3 regex with single digits, <c>\p{N}</c> instead of <c>\p{N}{1,3}</c>.</summary>
    Qwen2,

    /// <summary>
    /// SmolLM / StarCoder (<c>smollm</c>, <c>starcoder</c>, <c>refact</c>): tokenizer.json's <c>Sequence[Digits(individual_digits), ByteLevel(use_regex)]</c>,
    /// i.e. every <c>\p{N}</c> scalar is its own piece and the rest is split with the GPT-2 regex.
    /// </summary>
    DigitsThenGpt2,
}

/// <summary>
/// The raw vocabulary of a GPT-2 style byte-level BPE model, as GGUF metadata (<c>tokenizer.ggml.model = gpt2</c>)
/// or a Hugging Face tokenizer.json provides it. Token texts are in the byte-to-unicode alphabet (space is Ġ).
/// </summary>
/// <param name="Tokens">Token text per id (<c>tokenizer.ggml.tokens</c> / <c>model.vocab</c> plus <c>added_tokens</c>).</param>
/// <param name="Merges">Merge rules, highest priority first (<c>tokenizer.ggml.merges</c> "a b" / <c>model.merges</c>).</param>
/// <param name="TokenTypes">
/// GGUF token type per id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused), or null for all normal.
/// Control and user-defined tokens are matched whole inside text before splitting; control tokens decode to nothing.
/// </param>
/// <param name="PreTokenizer">Which split regex to use.</param>
/// <param name="BosId">Beginning-of-sequence id, or -1.</param>
/// <param name="EosId">End-of-sequence id, or -1.</param>
/// <param name="UnknownId">Unknown id, or -1 (byte-level vocabularies normally have none: every byte is a token).</param>
/// <param name="AddBosByDefault">Whether the model expects a BOS in front of every prompt (<c>tokenizer.ggml.add_bos_token</c>).</param>
/// <param name="IgnoreMerges">
/// When a whole pre-tokenized word is a token, emit it without merging (Llama 3's <c>ignore_merges</c>; llama.cpp
/// sets it for <c>llama-bpe</c>).
/// </param>
/// <param name="NormalizeNfc">
/// Apply Unicode NFC before encoding (Qwen2's tokenizer.json <c>normalizer</c>). Under RagTune's
/// InvariantGlobalization <c>string.Normalize</c> returns text unchanged, so decomposed input is encoded as given,
/// as llama.cpp does for Qwen2 GGUFs; text that is already NFC (nearly all text) is unaffected.
/// </param>
public sealed record ByteLevelBpeVocab(
    string[] Tokens,
    (string Left, string Right)[] Merges,
    int[]? TokenTypes,
    ByteLevelPreTokenizerKind PreTokenizer,
    int BosId,
    int EosId,
    int UnknownId = -1,
    bool AddBosByDefault = false,
    bool IgnoreMerges = false,
    bool NormalizeNfc = false)
{
    /// <summary>
    /// Maps GGUF <c>tokenizer.ggml.pre</c> to a pre-tokenizer, as llama.cpp's <c>llama_vocab::impl::load</c> does.
    /// A missing value means GPT-2 (what converters wrote before the key existed).
    /// </summary>
    /// <exception cref="TokenizerFormatException">The name is one whose regex RagTune does not implement.</exception>
    public static ByteLevelPreTokenizerKind PreTokenizerFromGgufName(string? pre, string sourceName) => pre switch
    {
        null or "gpt-2" or "gpt2" or "phi-2" => ByteLevelPreTokenizerKind.Gpt2,
        "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "smaug-bpe" => ByteLevelPreTokenizerKind.Llama3,
        "qwen2" or "deepseek-r1-qwen" => ByteLevelPreTokenizerKind.Qwen2,
        "smollm" or "starcoder" or "refact" or "codeshell" => ByteLevelPreTokenizerKind.DigitsThenGpt2,
        _ => throw new TokenizerFormatException(sourceName, null,
            $"tokenizer.ggml.pre '{pre}' names a pre-tokenizer RagTune does not implement (supported: gpt-2, llama-bpe/llama3, qwen2, smollm/starcoder). Convert the model with one of these or pass a tokenizer.json."),
    };

    /// <summary>Whether llama.cpp turns on <c>ignore_merges</c> for this GGUF pre-tokenizer name.</summary>
    public static bool GgufIgnoresMerges(string? pre) => pre is "llama3" or "llama-v3" or "llama-bpe" or "falcon3";

    /// <summary>Splits GGUF / merges.txt style rules <c>"a b"</c> at their single space.</summary>
    /// <exception cref="TokenizerFormatException">A rule has no space, or only at its ends.</exception>
    public static (string Left, string Right)[] ParseMerges(string[] merges, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(merges);
        var result = new (string, string)[merges.Length];
        for (var i = 0; i < merges.Length; i++)
        {
            var rule = merges[i] ?? "";
            // The first space separates: byte-level tokens never contain a literal space (it is Ġ).
            var at = rule.IndexOf(' ', StringComparison.Ordinal);
            if (at <= 0 || at == rule.Length - 1)
                throw new TokenizerFormatException(sourceName, null, $"merge rule {i} ('{rule}') is not two tokens separated by one space (\"a b\").");
            result[i] = (rule[..at], rule[(at + 1)..]);
        }
        return result;
    }
}
