using System.Text.Json;

namespace RagTune.Tokenizers;

public sealed partial class ByteLevelBpeTokenizer
{
    /// <summary>Llama 3's split regex as its tokenizer.json declares it.</summary>
    internal const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's split regex as its tokenizer.json declares it (single digits).</summary>
    internal const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's split regex (the ByteLevel pre-tokenizer's built-in one).</summary>
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>
    /// Loads a Hugging Face <c>tokenizer.json</c> whose <c>model.type</c> is <c>BPE</c> with a byte-level
    /// pre-tokenizer (GPT-2, SmolLM2, Qwen2, Llama 3). BOS/EOS come from <c>tokenizer_config.json</c> beside it
    /// (<c>bos_token</c>, <c>eos_token</c>), else <c>config.json</c> (<c>bos_token_id</c>, <c>eos_token_id</c>),
    /// else the BOS of a <c>TemplateProcessing</c> post-processor.
    /// </summary>
    /// <exception cref="TokenizerFormatException">
    /// The file is not JSON, its model type is not BPE (e.g. Unigram, WordLevel), or it declares a normalizer,
    /// pre-tokenizer or BPE option RagTune does not implement; the message names the file and the declaration.
    /// </exception>
    /// <param name="path">The tokenizer.json file.</param>
    /// <param name="padToVocabSize">
    /// The model's embedding rows (config.json <c>vocab_size</c>), when larger than the tokenizer's ids: the extra ids
    /// become unused <c>[PAD{id}]</c> tokens that decode to nothing, as llama.cpp's converter writes them (Qwen2.5:
    /// 151665 ids, 151936 rows). 0 or a smaller value pads nothing.
    /// </param>
    public static ByteLevelBpeTokenizer FromTokenizerJson(string path, int padToVocabSize = 0)
    {
        ArgumentNullException.ThrowIfNull(path);
        var doc = TokenizerJson.Parse(path, "a Hugging Face tokenizer.json");
        using (doc)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            return FromTokenizerJson(doc.RootElement, path, dir, padToVocabSize);
        }
    }

    /// <summary>As <see cref="FromTokenizerJson(string, int)"/> from a parsed document; <paramref name="directory"/> is searched for the config files.</summary>
    internal static ByteLevelBpeTokenizer FromTokenizerJson(JsonElement root, string source, string? directory, int padToVocabSize = 0)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new TokenizerFormatException(source, null, "no 'model' object; a Hugging Face tokenizer.json was expected.");
        var type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
            : model.TryGetProperty("merges", out _) ? "BPE" : null; // very old files omit the type
        if (type != "BPE")
            throw new TokenizerFormatException(source, null,
                $"model.type '{type ?? "(missing)"}' is not supported; RagTune reads byte-level BPE tokenizer.json files (model.type 'BPE'). Use the model's GGUF, or a BPE tokenizer.");
        if (Bool(model, "byte_fallback"))
            throw Unsupported(source, "model.byte_fallback = true (SentencePiece-style BPE)", "Load the model's GGUF instead.");
        if (String(model, "continuing_subword_prefix") is { Length: > 0 } || String(model, "end_of_word_suffix") is { Length: > 0 })
            throw Unsupported(source, "model.continuing_subword_prefix / end_of_word_suffix", "Only GPT-2 style byte-level BPE is implemented.");

        // ── ids ──
        var byId = new Dictionary<int, string>();
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw new TokenizerFormatException(source, null, "model.vocab is missing or not an object of token → id.");
        foreach (var entry in vocab.EnumerateObject())
            byId[TokenizerJson.Int(entry.Value, $"model.vocab[\"{entry.Name}\"]", source)] = entry.Name;
        var types = new Dictionary<int, int>();
        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            int index = 0;
            foreach (var a in addedTokens.EnumerateArray())
            {
                var field = $"added_tokens[{index++}]";
                var id = TokenizerJson.Int(TokenizerJson.Required(a, "id", field + ".id", source), field + ".id", source);
                byId[id] = TokenizerJson.Text(TokenizerJson.Required(a, "content", field + ".content", source), field + ".content", source);
                types[id] = Bool(a, "special") ? (int)SentencePieceTokenType.Control : (int)SentencePieceTokenType.UserDefined;
            }
        }
        var count = byId.Count == 0 ? 0 : byId.Keys.Max() + 1;
        var tokens = new string[Math.Max(count, padToVocabSize)];
        var tokenTypes = new int[tokens.Length];
        for (var id = count; id < tokens.Length; id++)
        {
            tokens[id] = $"[PAD{id}]";
            tokenTypes[id] = (int)SentencePieceTokenType.Unused;
        }
        for (var id = 0; id < count; id++)
        {
            if (!byId.TryGetValue(id, out var text))
                throw new TokenizerFormatException(source, null, $"no token has id {id}; ids in model.vocab and added_tokens must be 0..{count - 1} without gaps.");
            tokens[id] = text;
            tokenTypes[id] = types.TryGetValue(id, out var ty) ? ty : (int)SentencePieceTokenType.Normal;
        }

        // ── merges: "a b" strings (older files) or [a, b] pairs (tokenizers ≥ 0.20) ──
        var merges = new List<(string, string)>();
        if (model.TryGetProperty("merges", out var mergeList) && mergeList.ValueKind == JsonValueKind.Array)
        {
            var rank = 0;
            foreach (var m in mergeList.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String)
                {
                    merges.Add(ByteLevelBpeVocab.ParseMerges([m.GetString()!], source)[0]);
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                {
                    merges.Add((TokenizerJson.Text(m[0], $"model.merges[{rank}][0]", source), TokenizerJson.Text(m[1], $"model.merges[{rank}][1]", source)));
                }
                else
                {
                    throw new TokenizerFormatException(source, null, $"model.merges[{rank}] is neither \"a b\" nor [\"a\", \"b\"].");
                }
                rank++;
            }
        }

        var nfc = ReadNormalizer(root, source);
        var pre = ReadPreTokenizer(root, source);
        var (bos, eos) = ReadSpecialIds(root, directory, tokens);
        var addBos = PostProcessorBos(root) is { } processorBos && Array.IndexOf(tokens, processorBos) is var pbId and >= 0 && pbId == bos;

        var vocabRecord = new ByteLevelBpeVocab(tokens, [.. merges], tokenTypes, pre,
            BosId: bos, EosId: eos, UnknownId: String(model, "unk_token") is { } unk ? Array.IndexOf(tokens, unk) : -1,
            AddBosByDefault: addBos, IgnoreMerges: Bool(model, "ignore_merges"), NormalizeNfc: nfc);
        return new ByteLevelBpeTokenizer(vocabRecord, source);
    }

    private static bool ReadNormalizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null)
            return false;
        if (String(n, "type") == "NFC")
            return true;
        throw Unsupported(source, $"normalizer {Compact(n)}", "Only no normalizer or NFC is implemented.");
    }

    private static ByteLevelPreTokenizerKind ReadPreTokenizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var p) || p.ValueKind == JsonValueKind.Null)
            throw Unsupported(source, "no pre_tokenizer", "A byte-level BPE tokenizer.json declares a ByteLevel pre-tokenizer.");
        ByteLevelPreTokenizerKind? kind = String(p, "type") switch
        {
            "ByteLevel" when IsByteLevel(p, useRegex: true) => ByteLevelPreTokenizerKind.Gpt2,
            "Sequence" when p.TryGetProperty("pretokenizers", out var list) && list.GetArrayLength() == 2 => (String(list[0], "type"), list[0], list[1]) switch
            {
                ("Digits", var digits, var byteLevel) when Bool(digits, "individual_digits") && IsByteLevel(byteLevel, useRegex: true) => ByteLevelPreTokenizerKind.DigitsThenGpt2,
                ("Split", var split, var byteLevel) when IsByteLevel(byteLevel, useRegex: false) && String(split, "behavior") == "Isolated" && !Bool(split, "invert")
                    && split.TryGetProperty("pattern", out var pattern) => String(pattern, "Regex") switch
                    {
                        Llama3Pattern => ByteLevelPreTokenizerKind.Llama3,
                        Qwen2Pattern => ByteLevelPreTokenizerKind.Qwen2,
                        Gpt2Pattern => ByteLevelPreTokenizerKind.Gpt2,
                        _ => null,
                    },
                _ => null,
            },
            _ => null,
        };
        return kind ?? throw Unsupported(source, $"pre_tokenizer {Compact(p)}",
            "Implemented: ByteLevel (GPT-2 regex); Sequence[Digits(individual), ByteLevel] (SmolLM2); Sequence[Split(Llama 3 or Qwen2 regex), ByteLevel(use_regex false)].");
    }

    private static bool IsByteLevel(JsonElement e, bool useRegex) =>
        String(e, "type") == "ByteLevel" && !Bool(e, "add_prefix_space")
        && (e.TryGetProperty("use_regex", out var r) ? r.ValueKind == JsonValueKind.True : true) == useRegex;

    private static (int Bos, int Eos) ReadSpecialIds(JsonElement root, string? directory, string[] tokens)
    {
        int Find(string? token) => token is null ? -1 : Array.IndexOf(tokens, token);
        if (directory is not null)
        {
            var configPath = Path.Combine(directory, "tokenizer_config.json");
            if (File.Exists(configPath) && TryParse(configPath) is { } config)
            {
                using (config)
                    return (Find(SpecialTokenText(config.RootElement, "bos_token")), Find(SpecialTokenText(config.RootElement, "eos_token")));
            }
            var modelConfigPath = Path.Combine(directory, "config.json");
            if (File.Exists(modelConfigPath) && TryParse(modelConfigPath) is { } modelConfig)
            {
                using (modelConfig)
                {
                    var bos = FirstInt(modelConfig.RootElement, "bos_token_id");
                    var eos = FirstInt(modelConfig.RootElement, "eos_token_id");
                    if (bos < tokens.Length && eos < tokens.Length && (bos >= 0 || eos >= 0))
                        return (bos, eos);
                }
            }
        }
        return (Find(PostProcessorBos(root)), Find("<|endoftext|>"));
    }

    /// <summary>The text of <c>bos_token</c>/<c>eos_token</c> in tokenizer_config.json: a string or an AddedToken object.</summary>
    private static string? SpecialTokenText(JsonElement config, string key) =>
        !config.TryGetProperty(key, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : v.ValueKind == JsonValueKind.Object ? String(v, "content")
        : null;

    private static int FirstInt(JsonElement e, string key) =>
        !e.TryGetProperty(key, out var v) ? -1
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i
        : v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 && v[0].ValueKind == JsonValueKind.Number && v[0].TryGetInt32(out var first) ? first
        : -1;

    /// <summary>The special token a <c>TemplateProcessing</c> post-processor puts first in a single sequence (Llama 3's BOS).</summary>
    private static string? PostProcessorBos(JsonElement root)
    {
        if (!root.TryGetProperty("post_processor", out var pp) || pp.ValueKind != JsonValueKind.Object)
            return null;
        var candidates = String(pp, "type") == "Sequence" && pp.TryGetProperty("processors", out var list) ? list.EnumerateArray().ToArray() : [pp];
        foreach (var c in candidates)
        {
            if (String(c, "type") == "TemplateProcessing" && c.TryGetProperty("single", out var single)
                && single.ValueKind == JsonValueKind.Array && single.GetArrayLength() > 0
                && single[0].TryGetProperty("SpecialToken", out var st))
                return String(st, "id");
        }
        return null;
    }

    private static JsonDocument TryParse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(path, null, $"not valid JSON ({e.Message}); it is read for the BOS/EOS tokens of the tokenizer.json beside it. Fix or remove it.", e);
        }
    }

    private static bool Bool(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.True;

    private static string? String(JsonElement e, string key) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Compact(JsonElement e)
    {
        var text = e.GetRawText();
        return text.Length <= 200 ? text : text[..200] + "…";
    }

    private static TokenizerFormatException Unsupported(string source, string what, string hint) =>
        new(source, null, $"{what} is not supported. {hint}");
}
