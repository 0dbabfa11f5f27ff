namespace RagTune.Tokenizers.Tests;

/// <summary>Malformed byte-level vocabularies and tokenizer.json files fail with messages that name the problem.</summary>
public sealed class ByteLevelBpeValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ragtune-bpe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The 256 byte symbols plus <paramref name="extra"/>.</summary>
    private static string[] Alphabet(params string[] extra) => [.. ByteLevelBpeTokenizer.ByteToUnicode.Select(c => c.ToString()), .. extra];

    private static ByteLevelBpeVocab Vocab(string[] tokens, params (string, string)[] merges) =>
        new(tokens, merges, null, ByteLevelPreTokenizerKind.Gpt2, BosId: -1, EosId: -1);

    [Fact]
    public void Tiny_vocabulary_merges_by_rank()
    {
        var tokens = Alphabet("ab", "abc", "bc");
        // "b c" outranks "a b" (lower index): "abc" → a + bc, and "a bc" is no rule.
        var tok = new ByteLevelBpeTokenizer(Vocab(tokens, ("b", "c"), ("a", "b"), ("ab", "c")));
        Assert.Equal([(int)'a', 258], tok.Encode("abc", addBos: false)); // the alphabet is in byte order: 'a' is id 0x61
        var tok2 = new ByteLevelBpeTokenizer(Vocab(tokens, ("a", "b"), ("ab", "c"), ("b", "c")));
        Assert.Equal([257], tok2.Encode("abc", addBos: false));
    }

    [Fact]
    public void Merge_of_unknown_token_is_rejected()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => new ByteLevelBpeTokenizer(Vocab(Alphabet("ab"), ("a", "b"), ("zz", "b")), "bad.gguf"));
        Assert.Contains("merge rule 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("'zz'", e.Message, StringComparison.Ordinal);
        Assert.Contains("bad.gguf", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Merge_whose_result_is_missing_is_rejected()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => new ByteLevelBpeTokenizer(Vocab(Alphabet(), ("a", "b"))));
        Assert.Contains("produces 'ab'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Byte_without_a_symbol_token_is_dropped_like_hugging_face()
    {
        var tokens = Alphabet().Where(t => t != "!").ToArray(); // '!' (0x21) missing
        var tok = new ByteLevelBpeTokenizer(Vocab(tokens));
        Assert.Equal("ab", tok.Decode([.. tok.Encode("a!b", addBos: false)]));
    }

    [Fact]
    public void Malformed_merge_string_is_rejected()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => ByteLevelBpeVocab.ParseMerges(["a b", "ab"], "x.gguf"));
        Assert.Contains("merge rule 1 ('ab')", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_gguf_pre_tokenizer_is_rejected()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => ByteLevelBpeVocab.PreTokenizerFromGgufName("deepseek-coder", "m.gguf"));
        Assert.Contains("deepseek-coder", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Unigram")]
    [InlineData("WordLevel")]
    [InlineData("WordPiece")]
    public void Unsupported_model_type_names_file_and_type(string type)
    {
        var path = Write("""{"model": {"type": "TYPE", "vocab": []}}""".Replace("TYPE", type, StringComparison.Ordinal));
        var e = Assert.Throws<TokenizerFormatException>(() => ByteLevelBpeTokenizer.FromTokenizerJson(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{type}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_pre_tokenizer_is_named()
    {
        var path = Write("""{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}""");
        var e = Assert.Throws<TokenizerFormatException>(() => ByteLevelBpeTokenizer.FromTokenizerJson(path));
        Assert.Contains("Whitespace", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Not_json_is_rejected()
    {
        var path = Write("{ not json");
        Assert.Throws<TokenizerFormatException>(() => ByteLevelBpeTokenizer.FromTokenizerJson(path));
    }

    [Fact]
    public void Tokenizer_json_array_merges_and_added_tokens()
    {
        var vocab = VocabJson(Alphabet("ab"));
        var path = Write($$$"""
            {"model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": [["a", "b"]]},
             "added_tokens": [{"id": 257, "content": "<eot>", "special": true}, {"id": 258, "content": "[x]", "special": false}],
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}}
            """);
        var tok = ByteLevelBpeTokenizer.FromTokenizerJson(path);
        Assert.Equal(259, tok.VocabSize);
        Assert.Equal([256, 257, 258], tok.Encode("ab<eot>[x]", addBos: false));
        Assert.Equal("ab[x]", tok.Decode([256, 257, 258]));
        Assert.Equal(257, tok.EosId == -1 ? 257 : tok.EosId);
    }

    [Fact]
    public void Tokenizer_json_is_padded_to_the_model_vocabulary()
    {
        var path = Write($$$"""{"model": {"type": "BPE", "vocab": {{{VocabJson(Alphabet())}}}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""");
        var tok = ByteLevelBpeTokenizer.FromTokenizerJson(path, padToVocabSize: 300);
        Assert.Equal(300, tok.VocabSize);
        Assert.Equal("[PAD299]", tok.TokenText(299));
        Assert.Equal("", tok.Decode([299]));
        Assert.Equal(SentencePieceTokenType.Unused, tok.TokenType(299));
    }

    [Fact]
    public void Merge_of_unknown_token_in_tokenizer_json_is_rejected()
    {
        var vocab = VocabJson(Alphabet());
        var path = Write($$$"""{"model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": ["a q9"]}, "pre_tokenizer": {"type": "ByteLevel"}}""");
        var e = Assert.Throws<TokenizerFormatException>(() => ByteLevelBpeTokenizer.FromTokenizerJson(path));
        Assert.True(e.Message.Contains("'q9'", StringComparison.Ordinal), e.Message);
    }

    [Theory]
    [InlineData(ByteLevelBpeTokenizer.Llama3Pattern, "Llama3")]
    [InlineData(ByteLevelBpeTokenizer.Qwen2Pattern, "Qwen2")]
    public void Split_pre_tokenizers_of_llama3_and_qwen2_are_recognised(string pattern, string kind)
    {
        var expected = Enum.Parse<ByteLevelPreTokenizerKind>(kind);
        var vocab = VocabJson(Alphabet("ab", "<|begin_of_text|>"));
        var pre = System.Text.Json.JsonSerializer.Serialize(new
        {
            type = "Sequence",
            pretokenizers = new object[]
            {
                new { type = "Split", pattern = new { Regex = pattern }, behavior = "Isolated", invert = false },
                new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = false },
            },
        });
        var path = Write($$$"""
            {"model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": [], "ignore_merges": true},
             "added_tokens": [{"id": 257, "content": "<|begin_of_text|>", "special": true}],
             "normalizer": {"type": "NFC"},
             "pre_tokenizer": {{{pre}}},
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}}
            """);
        var tok = ByteLevelBpeTokenizer.FromTokenizerJson(path);
        Assert.Equal(expected, tok.PreTokenizer);
        Assert.True(tok.IgnoreMerges); // "ab" is a token, so the word "ab" is taken whole although no merge makes it
        Assert.True(tok.NormalizeNfc);
        Assert.Equal(257, tok.BosId);
        Assert.True(tok.AddBosByDefault);
        Assert.Equal([257, 256], tok.Encode("ab", addBos: true));
        // NFC is requested, but RagTune runs with InvariantGlobalization, where string.Normalize leaves text as
        // it is; like llama.cpp for Qwen2 GGUFs, decomposed text is encoded as given (already-NFC text is unaffected).
        Assert.Equal([101, 204, 129], tok.Encode("e\u0301", addBos: false));
    }

    private static string VocabJson(string[] tokens) =>
        "{" + string.Join(",", tokens.Select((t, i) => $"{System.Text.Json.JsonSerializer.Serialize(t)}: {i}")) + "}";

    private string Write(string json)
    {
        var path = Path.Combine(_dir, $"tokenizer-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
