using System.Text.Json;

namespace RagTune.Tokenizers;

public sealed partial class WordPieceTokenizer
{
    /// <summary>Reads a BERT <c>vocab.txt</c> (one token per line, line number = id).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="TokenizerFormatException">The file is empty or lacks a required special token.</exception>
    internal static WordPieceTokenizer FromVocabFile(string path, WordPieceOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"WordPiece vocabulary '{path}' does not exist; a BERT model folder holds vocab.txt or tokenizer.json.", path);
        var lines = File.ReadAllLines(path);
        // A trailing empty line is the file's final newline, not a token; BERT's load_vocab strips each line the same way.
        var tokens = lines.Select(l => l.TrimEnd('\r')).ToList();
        while (tokens.Count > 0 && tokens[^1].Length == 0) tokens.RemoveAt(tokens.Count - 1);
        return new WordPieceTokenizer(tokens, options, path);
    }

    /// <summary>
    /// Reads a Hugging Face <c>tokenizer.json</c> whose model is <c>WordPiece</c>; the normalizer's
    /// <c>BertNormalizer</c> flags (<c>lowercase</c>, <c>strip_accents</c>, <c>handle_chinese_chars</c>,
    /// <c>clean_text</c>) and the model's <c>unk_token</c>, <c>continuing_subword_prefix</c> and
    /// <c>max_input_chars_per_word</c> become the <see cref="WordPieceOptions"/>.
    /// </summary>
    /// <exception cref="TokenizerFormatException">The file is not a WordPiece tokenizer.json or uses an unsupported normalizer.</exception>
    public static WordPieceTokenizer FromTokenizerJson(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Tokenizer file '{path}' does not exist.", path);
        var doc = TokenizerJson.Parse(path, "a Hugging Face WordPiece tokenizer.json");
        using (doc)
        {
            var root = doc.RootElement;
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new TokenizerFormatException(path, null, "no 'model' object; this is not a Hugging Face tokenizer.json.");
            var type = model.TryGetProperty("type", out var t) ? TokenizerJson.Text(t, "model.type", path) : null;
            if (type != "WordPiece")
                throw new TokenizerFormatException(path, null, $"model.type is '{type}', not 'WordPiece'; only BERT-style WordPiece tokenizers are read here.");

            var options = new WordPieceOptions();
            if (model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String)
                options = options with { UnknownToken = unk.GetString()! };
            if (model.TryGetProperty("continuing_subword_prefix", out var pre) && pre.ValueKind == JsonValueKind.String)
                options = options with { ContinuingSubwordPrefix = pre.GetString()! };
            if (model.TryGetProperty("max_input_chars_per_word", out var max) && max.ValueKind == JsonValueKind.Number)
                options = options with { MaxInputCharsPerWord = TokenizerJson.Int(max, "model.max_input_chars_per_word", path) };

            if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind == JsonValueKind.Object)
            {
                var ntype = norm.TryGetProperty("type", out var nt) ? TokenizerJson.Text(nt, "normalizer.type", path) : null;
                if (ntype != "BertNormalizer")
                    throw new TokenizerFormatException(path, null, $"normalizer.type is '{ntype}'; only 'BertNormalizer' (or none) is supported for WordPiece.");
                options = options with
                {
                    Lowercase = Flag(norm, "lowercase") ?? true,
                    StripAccents = Flag(norm, "strip_accents"),
                    HandleChineseChars = Flag(norm, "handle_chinese_chars") ?? true,
                    CleanText = Flag(norm, "clean_text") ?? true,
                };
            }
            else
            {
                options = options with { Lowercase = false, StripAccents = false, HandleChineseChars = false, CleanText = false };
            }

            if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
                throw new TokenizerFormatException(path, null, "model.vocab is missing or not an object of token → id.");
            var pairs = new List<(string Token, int Id)>();
            foreach (var p in vocab.EnumerateObject())
                pairs.Add((p.Name, TokenizerJson.Int(p.Value, $"model.vocab[\"{p.Name}\"]", path)));
            var tokens = new string[pairs.Count];
            foreach (var (token, id) in pairs)
            {
                if ((uint)id >= (uint)tokens.Length || tokens[id] != null)
                    throw new TokenizerFormatException(path, null, $"model.vocab id {id} of '{token}' is out of range or repeated; ids must be 0..{tokens.Length - 1}, each once.");
                tokens[id] = token;
            }
            return new WordPieceTokenizer(tokens, options, path);
        }
    }

    /// <summary>
    /// Loads the tokenizer of a Hugging Face BERT folder: <c>tokenizer.json</c> when present, otherwise
    /// <c>vocab.txt</c> with <c>do_lower_case</c> / <c>strip_accents</c> / <c>tokenize_chinese_chars</c> from
    /// <c>tokenizer_config.json</c> (lowercase when absent, as BertTokenizer does).
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder holds neither file.</exception>
    public static WordPieceTokenizer FromFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(json)) return FromTokenizerJson(json);
        var vocab = Path.Combine(folder, "vocab.txt");
        if (!File.Exists(vocab))
            throw new FileNotFoundException($"'{folder}' has no tokenizer: expected tokenizer.json or vocab.txt (download the model's tokenizer files too).", vocab);

        var options = new WordPieceOptions();
        var config = Path.Combine(folder, "tokenizer_config.json");
        if (File.Exists(config))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(config));
                var root = doc.RootElement;
                options = options with
                {
                    Lowercase = Flag(root, "do_lower_case") ?? true,
                    StripAccents = Flag(root, "strip_accents"),
                    HandleChineseChars = Flag(root, "tokenize_chinese_chars") ?? true,
                };
            }
            catch (JsonException e)
            {
                throw new TokenizerFormatException(config, null, $"not valid JSON ({e.Message}).", e);
            }
        }
        return FromVocabFile(vocab, options);
    }

    /// <summary>
    /// Rebuilds a BERT vocabulary from llama.cpp's GGUF form (<c>tokenizer.ggml.tokens</c> of <c>tokenizer.ggml.model =
    /// bert</c>), where convert_hf_to_gguf.py marks word-initial pieces with ▁ and drops the <c>##</c> of
    /// continuations; bracketed special tokens (<c>[CLS]</c>, <c>[unused0]</c>) are kept as they are. llama.cpp's WPM
    /// tokenizer always lowercases and strips accents, so the options default to uncased BERT.
    /// </summary>
    public static WordPieceTokenizer FromGgufTokens(IReadOnlyList<string> ggufTokens, string sourceName, WordPieceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(ggufTokens);
        var tokens = new string[ggufTokens.Count];
        for (int i = 0; i < tokens.Length; i++)
        {
            var t = ggufTokens[i];
            tokens[i] = t.Length > 0 && t[0] == '\u2581' ? t[1..]
                : t.Length >= 2 && t[0] == '[' && t[^1] == ']' ? t
                : "##" + t;
        }
        return new WordPieceTokenizer(tokens, options, sourceName);
    }

    /// <summary>llama.cpp's GGUF form of a BERT vocabulary (the inverse of <see cref="FromGgufTokens"/>), for writers and tests.</summary>
    public static string[] ToGgufTokens(IReadOnlyList<string> tokens) =>
        tokens.Select(t => t.Length >= 2 && t[0] == '[' && t[^1] == ']' ? t : t.StartsWith("##", StringComparison.Ordinal) ? t[2..] : "\u2581" + t).ToArray();

    private static bool? Flag(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v)
            ? v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => null }
            : null;
}
