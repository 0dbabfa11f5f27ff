using RagTune.TestKit;

namespace RagTune.Tokenizers.Tests;

/// <summary>
/// stories260K's <c>tok512.bin</c> (llama2.c format). Expected ids come from an independent reimplementation of
/// llama2.c's <c>encode</c> (rescan-all-pairs merging over the same file), not from this tokenizer.
/// </summary>
public sealed class SentencePieceTokenizerLlamaCTests
{
    internal static SentencePieceTokenizer Tok512 { get; } =
        SentencePieceTokenizer.FromLlamaCBin(SharedData.File("models", "stories260k", "tok512.bin"), 512);

    [Fact]
    public void Loads_vocabulary_with_llama2c_special_ids_and_inferred_types()
    {
        var tok = Tok512;
        Assert.Equal(512, tok.VocabSize);
        Assert.Equal(TokenizerKind.SentencePieceBpe, tok.Kind);
        Assert.Equal((0, 1, 2), (tok.UnknownId, tok.BosId, tok.EosId));
        Assert.Equal("<unk>", tok.TokenText(0));
        Assert.Equal("<s>", tok.TokenText(1));
        Assert.Equal("</s>", tok.TokenText(2));
        Assert.True(tok.IsControl(1));
        Assert.True(tok.IsControl(2));
        Assert.False(tok.IsControl(0));
        Assert.Equal(SentencePieceTokenType.Unknown, tok.TokenType(0));
        Assert.Equal(SentencePieceTokenType.Byte, tok.TokenType(3));
        Assert.Equal("<0x00>", tok.TokenText(3));
        Assert.Equal("<0xFF>", tok.TokenText(258));
        Assert.Equal(SentencePieceTokenType.Normal, tok.TokenType(259));
        Assert.Equal("\u2581t", tok.TokenText(259)); // the file stores " t"; pieces use ▁
    }

    [Fact]
    public void Encodes_story_sentence_like_llama2c_and_decodes_back()
    {
        const string text = "Once upon a time, there was a little girl named Lily.";
        int[] expected = [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426];

        Assert.Equal(expected, Tok512.Encode(text, addBos: false));
        Assert.Equal([1, .. expected], Tok512.Encode(text, addBos: true));
        Assert.Equal(text, Tok512.Decode([.. expected]));
        Assert.Equal(text, Tok512.Decode([1, .. expected]));
    }

    [Fact]
    public void Encodes_accents_emoji_newlines_spaces_and_cjk_like_llama2c()
    {
        const string text = "Café naïve 😀\n\n  two  spaces 你好";
        int[] expected = [410, 457, 412, 431, 485, 297, 412, 198, 178, 360, 410, 243, 162, 155, 131, 13, 13, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419, 410, 231, 192, 163, 232, 168, 192];

        Assert.Equal(expected, Tok512.Encode(text, addBos: false));
        Assert.Equal([410, 12, 259, 412, 430], Tok512.Encode("\t tab", addBos: false));
    }

    [Theory]
    [InlineData("Once upon a time, there was a little girl named Lily.")]
    [InlineData("Café naïve résumé, Ærøskøbing, São Paulo")]
    [InlineData("emoji 😀🚀 and a family 👨‍👩‍👧 and flags 🇫🇷")]
    [InlineData("line one\nline two\r\n\tindented\n\n")]
    [InlineData("multiple   spaces    here  ")]
    [InlineData("  leading spaces")]
    [InlineData("中文字符和日本語のテキスト、한국어")]
    [InlineData("Ελληνικά и русский текст")]
    [InlineData("<s> and </s> and <unk> and <0x0A> stay literal")]
    [InlineData("x")]
    [InlineData(" ")]
    public void Round_trips_varied_text(string text)
    {
        var ids = Tok512.Encode(text, addBos: false);
        Assert.Equal(text, Tok512.Decode([.. ids]));

        var withBos = Tok512.Encode(text, addBos: true);
        Assert.Equal(1, withBos[0]);
        Assert.Equal(text, Tok512.Decode([.. withBos]));
        Assert.DoesNotContain(1, ids);
        Assert.DoesNotContain(2, ids);
    }

    [Fact]
    public void Empty_text_is_no_ids_or_just_bos()
    {
        Assert.Empty(Tok512.Encode("", addBos: false));
        Assert.Equal([1], Tok512.Encode("", addBos: true));
        Assert.Equal("", Tok512.Decode([]));
        Assert.Equal("", Tok512.Decode([1]));
    }

    [Fact]
    public void List_overload_appends()
    {
        var output = new List<int> { 42 };
        Tok512.Encode("Lily", addBos: true, output);
        Assert.Equal([42, 1, .. Tok512.Encode("Lily", addBos: false)], output);
    }

    [Fact]
    public void Emoji_falls_back_to_utf8_bytes()
    {
        var ids = Tok512.Encode("😀", addBos: false);
        // ▁ then F0 9F 98 80 as <0xNN> (byte b is id b + 3 in llama2.c vocabularies).
        Assert.Equal([410, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3], ids);
    }

    [Fact]
    public void Rejects_ids_outside_the_vocabulary()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok512.Decode([512]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok512.Decode([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok512.TokenText(512));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok512.CreateStreamingDecoder().Append(600));
    }

    [Fact]
    public void Gguf_copy_of_the_vocabulary_agrees_with_tokenizer_bin()
    {
        var gguf = LlamaCppVocabTests.LoadFromGguf(SharedData.File("models", "stories260k", "stories260K.gguf"));
        Assert.Equal(Tok512.VocabSize, gguf.VocabSize);
        for (var id = 0; id < gguf.VocabSize; id++)
        {
            Assert.Equal(gguf.TokenText(id), Tok512.TokenText(id));
            Assert.Equal(gguf.TokenType(id), Tok512.TokenType(id));
            Assert.Equal(gguf.Score(id), Tok512.Score(id));
        }
        const string text = "Once upon a time, Lily found a shiny 🐚 by the sea.\nShe smiled.";
        Assert.Equal(Tok512.Encode(text, addBos: true), gguf.Encode(text, addBos: true));
    }

    [Theory]
    [Trait("Category", "Slow")]
    [InlineData('a')]
    [InlineData(' ')]
    [InlineData('\u00e9')]
    public void Long_runs_of_one_character_round_trip(char c)
    {
        var text = new string(c, 100_000);
        var ids = Tok512.Encode(text, addBos: false);
        Assert.Equal(text, Tok512.Decode([.. ids]));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void A_100_kilobyte_text_round_trips()
    {
        var rng = new Random(7);
        var words = new[] { "Once", "upon", "a", "time", "Lily", "played", "with", "her", "ball", "😀", "你好", "\n", "  ", "naïve," };
        var sb = new System.Text.StringBuilder();
        while (sb.Length < 100_000)
            sb.Append(words[rng.Next(words.Length)]).Append(' ');
        var text = sb.ToString();
        var ids = Tok512.Encode(text, addBos: false);

        Assert.Equal(text, Tok512.Decode([.. ids]));
    }
}
