using System.Text;
using RagTune.TestKit;

namespace RagTune.Tokenizers.Tests;

public sealed class WordPieceTokenizerTests
{
    private static readonly Lazy<WordPieceTokenizer> s_vocabTxt =
        new(() => WordPieceTokenizer.FromVocabFile(SharedData.File("tokenizers", "all-minilm-l6-v2", "vocab.txt")));

    private static readonly Lazy<WordPieceTokenizer> s_json =
        new(() => WordPieceTokenizer.FromTokenizerJson(SharedData.File("tokenizers", "all-minilm-l6-v2", "tokenizer.json")));

    public static TheoryData<int> GoldenCases()
    {
        var data = new TheoryData<int>();
        int n = Golden.Load("wordpiece_minilm.json").GetProperty("cases").GetArrayLength();
        for (int i = 0; i < n; i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Vocab_txt_matches_the_python_reference_exactly(int index) => AssertGolden(s_vocabTxt.Value, index);

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Tokenizer_json_matches_the_python_reference_exactly(int index) => AssertGolden(s_json.Value, index);

    private static void AssertGolden(WordPieceTokenizer tok, int index)
    {
        var c = Golden.Load("wordpiece_minilm.json").GetProperty("cases")[index];
        var text = c.GetProperty("text").GetString()!;
        var expected = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(expected, tok.Encode(text, addBos: false));
        Assert.Equal([tok.ClsId, .. expected, tok.SepId], tok.Encode(text, addBos: true));
    }

    [Fact]
    public void Pair_encoding_matches_the_reference_with_segment_ids()
    {
        var pair = Golden.Load("wordpiece_minilm.json").GetProperty("pair");
        var enc = s_vocabTxt.Value.EncodePair(pair.GetProperty("a").GetString()!, pair.GetProperty("b").GetString()!, 512);
        Assert.Equal(pair.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()), enc.Ids);
        Assert.Equal(pair.GetProperty("type_ids").EnumerateArray().Select(e => e.GetInt32()), enc.TypeIds);
        Assert.False(enc.Truncated);
    }

    [Fact]
    public void Loaders_agree_on_options_and_special_ids()
    {
        var a = s_vocabTxt.Value;
        var b = s_json.Value;
        Assert.Equal(TokenizerKind.WordPiece, b.Kind);
        Assert.Equal(30522, b.VocabSize);
        Assert.Equal((101, 102, 0, 100, 103), (b.ClsId, b.SepId, b.PadId, b.UnknownId, b.MaskId));
        Assert.Equal((a.ClsId, a.SepId, a.PadId, a.UnknownId), (b.ClsId, b.SepId, b.PadId, b.UnknownId));
        Assert.True(b.Options.Lowercase);
        Assert.Null(b.Options.StripAccents);
        Assert.Equal(100, b.Options.MaxInputCharsPerWord);
        var folder = WordPieceTokenizer.FromFolder(SharedData.File("tokenizers", "all-minilm-l6-v2"));
        Assert.Equal(b.Encode("Folder loader", true), folder.Encode("Folder loader", true));
    }

    [Fact]
    public void Invariant_globalization_leaves_normalize_unchanged_so_the_table_is_needed()
    {
        // Documents why WordPieceTokenizer.AccentFolding.cs exists: under InvariantGlobalization NFD is a no-op here.
        var nfd = "é".Normalize(NormalizationForm.FormD);
        Assert.True(nfd == "é" || nfd == "e\u0301");
        Assert.Equal(["cafe", "de", "##ja"], s_vocabTxt.Value.Tokenize("CAFÉ DÉJÀ"));
    }

    [Fact]
    public void Cased_options_keep_case_and_accents()
    {
        var tokens = File.ReadAllLines(SharedData.File("tokenizers", "all-minilm-l6-v2", "vocab.txt")).Append("Café").ToArray();
        var tok = new WordPieceTokenizer(tokens, new WordPieceOptions { Lowercase = false });
        Assert.Equal(["Café"], tok.Tokenize("Café"));
        var stripped = new WordPieceTokenizer(tokens, new WordPieceOptions { Lowercase = false, StripAccents = true });
        Assert.Equal(tok.Encode("Cafe", false), stripped.Encode("Café", false));
    }

    [Fact]
    public void Truncation_keeps_cls_and_sep_and_reports_it()
    {
        var tok = s_vocabTxt.Value;
        var enc = tok.EncodeForModel("one two three four five six", maxLength: 5);
        Assert.Equal(5, enc.Ids.Length);
        Assert.Equal(tok.ClsId, enc.Ids[0]);
        Assert.Equal(tok.SepId, enc.Ids[^1]);
        Assert.True(enc.Truncated);
        Assert.Equal(tok.Encode("one two three", false), enc.Ids[1..^1]);

        var pair = tok.EncodePair("a b c d e f", "x y", maxLength: 8);
        Assert.Equal(8, pair.Ids.Length);
        Assert.True(pair.Truncated);
        Assert.Equal([tok.ClsId, .. tok.Encode("a b c", false), tok.SepId, .. tok.Encode("x y", false), tok.SepId], pair.Ids);
        Assert.Equal([0, 0, 0, 0, 0, 1, 1, 1], pair.TypeIds);
    }

    [Fact]
    public void Empty_and_blank_text_give_only_special_tokens()
    {
        var tok = s_vocabTxt.Value;
        Assert.Empty(tok.Encode("", false));
        Assert.Equal([tok.ClsId, tok.SepId], tok.EncodeForModel(" \t\n ", 512).Ids);
    }

    [Fact]
    public void Special_token_text_is_not_matched_as_a_control_token()
    {
        var tok = s_vocabTxt.Value;
        Assert.DoesNotContain(tok.SepId, tok.Encode("a [SEP] b", false));
    }

    [Fact]
    public void Decode_joins_words_and_glues_continuations()
    {
        var tok = s_vocabTxt.Value;
        var ids = tok.Encode("unaffable tokenization, hello!", addBos: true);
        Assert.Equal("unaffable tokenization , hello !", tok.Decode([.. ids]));
        Assert.True(tok.IsControl(tok.ClsId));
        Assert.False(tok.IsControl(tok.UnknownId));
        var streaming = tok.CreateStreamingDecoder();
        var sb = new StringBuilder();
        foreach (var id in ids) sb.Append(streaming.Append(id));
        sb.Append(streaming.Flush());
        Assert.Equal(tok.Decode([.. ids]), sb.ToString());
    }

    [Theory]
    [InlineData("true", "false", new[] { "café", "x" })]   // lowercase, keep accents (multilingual uncased-style flags)
    [InlineData("false", "null", new[] { "Café", "x" })]   // cased: strip_accents null follows lowercase = false
    [InlineData("true", "null", new[] { "cafe", "x" })]    // uncased BERT
    public void Tokenizer_json_normalizer_flags_are_honoured(string lowercase, string stripAccents, string[] expected)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer.json"), $$$"""
            {"normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": {{{stripAccents}}}, "lowercase": {{{lowercase}}}},
             "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                       "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "café": 4, "Café": 5, "cafe": 6, "x": 7, "X": 8} } }
            """);
        var tok = WordPieceTokenizer.FromFolder(dir.Path);
        Assert.Equal(expected, tok.Tokenize("Café x"));
    }

    [Fact]
    public void Bad_input_fails_with_the_file_named()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => WordPieceTokenizer.FromFolder(dir.Path));
        File.WriteAllText(dir.File("vocab.txt"), "hello\nworld\n");
        var e = Assert.Throws<TokenizerFormatException>(() => WordPieceTokenizer.FromFolder(dir.Path));
        Assert.Contains("[UNK]", e.Message);
        Assert.Contains("vocab.txt", e.Message);
        File.WriteAllText(dir.File("tokenizer.json"), """{"model":{"type":"BPE","vocab":{}}}""");
        e = Assert.Throws<TokenizerFormatException>(() => WordPieceTokenizer.FromFolder(dir.Path));
        Assert.Contains("WordPiece", e.Message);
    }
}

public sealed class WordPieceGgufVocabularyTests
{
    [Fact]
    public void Gguf_phantom_space_vocabulary_round_trips_to_the_same_ids()
    {
        var tokens = File.ReadAllLines(SharedData.File("tokenizers", "all-minilm-l6-v2", "vocab.txt"));
        var gguf = WordPieceTokenizer.ToGgufTokens(tokens);
        Assert.Equal("[CLS]", gguf[101]);
        Assert.Equal("\u2581the", gguf[1996]);
        var fromGguf = WordPieceTokenizer.FromGgufTokens(gguf, "test");
        var fromTxt = new WordPieceTokenizer(tokens);
        const string text = "Supercalifragilistic tokenization, déjà vu! 北京 2nd-3rd";
        Assert.Equal(fromTxt.Encode(text, true), fromGguf.Encode(text, true));
        for (int i = 0; i < tokens.Length; i++) Assert.Equal(tokens[i], fromGguf.TokenText(i));
    }
}
