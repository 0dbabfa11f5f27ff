using RagTune.TestKit;

namespace RagTune.Tokenizers.Tests;

public sealed class SentencePieceVocabValidationTests
{
    private static readonly string Tok512Path = SharedData.File("models", "stories260k", "tok512.bin");

    [Fact]
    public void Truncated_file_names_file_and_offset()
    {
        using var dir = new TempDir();
        var path = dir.File("tok512.bin");
        var bytes = File.ReadAllBytes(Tok512Path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 3)]);

        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceTokenizer.FromLlamaCBin(path, 512));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.SourceName);
        Assert.NotNull(e.Offset);
        Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public void Header_only_file_is_a_vocab_size_mismatch()
    {
        using var dir = new TempDir();
        var path = dir.File("tok.bin");
        File.WriteAllBytes(path, File.ReadAllBytes(Tok512Path)[..4]);
        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceTokenizer.FromLlamaCBin(path, 512));
        Assert.Contains("vocab size mismatch", e.Message, StringComparison.Ordinal);
        Assert.Equal(4, e.Offset);

        File.WriteAllBytes(path, [1, 0]);
        e = Assert.Throws<TokenizerFormatException>(() => SentencePieceTokenizer.FromLlamaCBin(path, 512));
        Assert.Equal(0, e.Offset);
    }

    [Fact]
    public void Negative_length_names_its_offset()
    {
        using var dir = new TempDir();
        var path = dir.File("tok.bin");
        var bytes = File.ReadAllBytes(Tok512Path);
        BitConverter.TryWriteBytes(bytes.AsSpan(4 + 4), -5); // token 0's length field
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceTokenizer.FromLlamaCBin(path, 512));
        Assert.Contains("negative length -5", e.Message, StringComparison.Ordinal);
        Assert.Equal(8, e.Offset);
    }

    [Fact]
    public void Invalid_utf8_piece_names_its_offset()
    {
        using var dir = new TempDir();
        var path = dir.File("tok.bin");
        var bytes = File.ReadAllBytes(Tok512Path);
        bytes[4 + 8] = 0xFF; // first byte of token 0's text
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceTokenizer.FromLlamaCBin(path, 512));
        Assert.Contains("not valid UTF-8", e.Message, StringComparison.Ordinal);
        Assert.Equal(12, e.Offset);
        Assert.Equal(path, e.SourceName);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(600)]
    public void Vocab_size_different_from_the_file_is_rejected(int vocabSize)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceTokenizer.FromLlamaCBin(Tok512Path, vocabSize));
        Assert.Contains("vocab size mismatch", e.Message, StringComparison.Ordinal);
        Assert.Contains(Tok512Path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Arrays_of_different_lengths_are_rejected()
    {
        var vocab = SmallVocab() with { Scores = new float[3] };
        var e = Assert.Throws<TokenizerFormatException>(() => new SentencePieceTokenizer(vocab, "test.gguf"));
        Assert.Contains("test.gguf", e.Message, StringComparison.Ordinal);
        Assert.Contains("scores", e.Message, StringComparison.Ordinal);

        vocab = SmallVocab() with { TokenTypes = [2, 3, 3] };
        e = Assert.Throws<TokenizerFormatException>(() => new SentencePieceTokenizer(vocab, "test.gguf"));
        Assert.Contains("token types", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Special_ids_outside_the_vocabulary_are_rejected()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => new SentencePieceTokenizer(SmallVocab() with { EosId = 999 }));
        Assert.Contains("EOS id 999", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Partial_byte_tokens_are_rejected()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        for (var b = 0; b < 200; b++)
            tokens.Add($"<0x{b:X2}>");
        tokens.Add("\u2581a");
        var vocab = new SentencePieceVocab([.. tokens], new float[tokens.Count], null, 1, 2, 0);

        var e = Assert.Throws<TokenizerFormatException>(() => new SentencePieceTokenizer(vocab, "partial.gguf"));
        Assert.Contains("<0xC8>", e.Message, StringComparison.Ordinal);
        Assert.Contains("200", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Badly_typed_byte_token_is_rejected()
    {
        var vocab = SmallVocab() with { TokenTypes = [2, 3, 3, 6] };
        var e = Assert.Throws<TokenizerFormatException>(() => new SentencePieceTokenizer(vocab));
        Assert.Contains("<0xNN>", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_byte_tokens_unknown_characters_become_unk()
    {
        var tok = new SentencePieceTokenizer(SmallVocab());
        // "▁a" is a piece, "é" is not and there is no byte fallback.
        Assert.Equal([3, 0], tok.Encode("aé", addBos: false));
        Assert.Equal("a \u2047 ", tok.Decode([3, 0]));

        var noUnk = SmallVocab() with { UnknownId = -1, TokenTypes = [1, 3, 3, 1] };
        var e = Assert.Throws<TokenizerFormatException>(() => new SentencePieceTokenizer(noUnk));
        Assert.Contains("neither byte tokens", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void User_defined_pieces_are_matched_whole_before_merging()
    {
        // ids: 0 <unk>, 1 <s>, 2 </s>, 3 ▁a, 4 ▁, 5 a, 6 <tool>, then bytes.
        var tokens = new List<string> { "<unk>", "<s>", "</s>", "\u2581a", "\u2581", "a", "<tool>" };
        var types = new List<int> { 2, 3, 3, 1, 1, 1, 4 };
        for (var b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(6);
        }
        var scores = new float[tokens.Count];
        scores[3] = -1;
        var tok = new SentencePieceTokenizer(new SentencePieceVocab([.. tokens], scores, [.. types], 1, 2, 0));

        // Like llama.cpp, the text after a user-defined piece gets the space prefix again.
        Assert.Equal([3, 6, 3], tok.Encode("a<tool>a", addBos: false));
        Assert.Equal([6], tok.Encode("<tool>", addBos: false));
        Assert.Equal("a<tool> a", tok.Decode([3, 6, 3]));
    }

    private static SentencePieceVocab SmallVocab() =>
        new(["<unk>", "<s>", "</s>", "\u2581a"], [0, 0, 0, -1], null, BosId: 1, EosId: 2, UnknownId: 0);
}
