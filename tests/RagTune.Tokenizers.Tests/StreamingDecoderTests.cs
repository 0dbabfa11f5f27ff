using System.Text;

namespace RagTune.Tokenizers.Tests;

public sealed class StreamingDecoderTests
{
    private static SentencePieceTokenizer Tok => SentencePieceTokenizerLlamaCTests.Tok512;

    private static int ByteToken(byte b) => b + 3; // llama2.c vocabularies: <0x00> is id 3

    [Fact]
    public void Byte_tokens_of_one_character_come_out_only_when_complete()
    {
        var decoder = Tok.CreateStreamingDecoder();
        // ▁ is E2 96 81: the first two bytes complete nothing; the third completes a space (kept: byte tokens are never stripped).
        Assert.Equal("", decoder.Append(ByteToken(0xE2)));
        Assert.Equal("", decoder.Append(ByteToken(0x96)));
        Assert.Equal("\u2581", decoder.Append(ByteToken(0x81)));
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void Emoji_split_byte_by_byte_comes_out_whole()
    {
        var decoder = Tok.CreateStreamingDecoder();
        var outputs = Encoding.UTF8.GetBytes("😀").Select(b => decoder.Append(ByteToken(b))).ToArray();
        Assert.Equal(["", "", "", "😀"], outputs);
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void Cjk_split_byte_by_byte_comes_out_whole()
    {
        var decoder = Tok.CreateStreamingDecoder();
        var text = new StringBuilder();
        var nonEmpty = 0;
        foreach (var b in Encoding.UTF8.GetBytes("你好"))
        {
            var piece = decoder.Append(ByteToken(b));
            if (piece.Length > 0)
            {
                nonEmpty++;
                Assert.Single(piece.EnumerateRunes());
            }
            text.Append(piece);
        }
        Assert.Equal("你好", text.ToString());
        Assert.Equal(2, nonEmpty);
    }

    [Fact]
    public void Encoded_text_streams_identically()
    {
        const string text = "Lily saw a 🐶 and said 你好!\nThe end.";
        var ids = Tok.Encode(text, addBos: true);
        Assert.Equal(text, Stream(Tok, ids));
    }

    [Fact]
    public void Flush_turns_an_unfinished_sequence_into_replacement_char()
    {
        var decoder = Tok.CreateStreamingDecoder();
        Assert.Equal("", decoder.Append(ByteToken(0xF0)));
        Assert.Equal("", decoder.Append(ByteToken(0x9F)));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("", decoder.Flush());
        Assert.Equal("\uFFFD", Tok.Decode([ByteToken(0xF0), ByteToken(0x9F)]));
    }

    [Fact]
    public void Invalid_byte_followed_by_text_gives_replacement_then_text()
    {
        int[] ids = [ByteToken(0xE2), .. Tok.Encode("Lily", addBos: false)];
        var streamed = Stream(Tok, ids);
        Assert.Equal(Tok.Decode(ids), streamed);
        Assert.StartsWith("\uFFFD", streamed, StringComparison.Ordinal);
    }

    [Fact]
    public void Leading_space_of_first_piece_is_stripped_at_start_and_after_bos()
    {
        var lily = Tok.Encode("Lily", addBos: false); // ▁L…
        var decoder = Tok.CreateStreamingDecoder();
        Assert.Equal("", decoder.Append(Tok.BosId));
        Assert.Equal("Lily", string.Concat(lily.Select(decoder.Append)));
        // Later pieces keep their spaces; EOS is silent; a new BOS starts a new sequence.
        Assert.Equal(" Lily", string.Concat(lily.Select(decoder.Append)));
        Assert.Equal("", decoder.Append(Tok.EosId));
        Assert.Equal("", decoder.Append(Tok.BosId));
        Assert.Equal("Lily", string.Concat(lily.Select(decoder.Append)));

        Assert.Equal("Lily Lily", Tok.Decode([.. lily, .. lily]));
        Assert.Equal("Lily Lily", Tok.Decode([Tok.BosId, .. lily, .. lily, Tok.EosId]));
    }

    [Fact]
    public void Continuation_decoder_keeps_the_first_space()
    {
        var lily = Tok.Encode("Lily", addBos: false);
        var decoder = Tok.CreateStreamingDecoder(atSequenceStart: false);
        Assert.Equal(" Lily", string.Concat(lily.Select(decoder.Append)));
    }

    [Fact]
    public void Streaming_equals_decode_over_random_sequences()
    {
        var rng = new Random(1234);
        for (var round = 0; round < 500; round++)
        {
            var ids = new int[rng.Next(0, 40)];
            for (var i = 0; i < ids.Length; i++)
                ids[i] = rng.Next(4) == 0 ? ByteToken((byte)rng.Next(0x80, 0x100)) : rng.Next(Tok.VocabSize);
            Assert.Equal(Tok.Decode(ids), Stream(Tok, ids));
        }
    }

    private static string Stream(ITokenizer tokenizer, IEnumerable<int> ids)
    {
        var decoder = tokenizer.CreateStreamingDecoder();
        var text = new StringBuilder();
        foreach (var id in ids)
            text.Append(decoder.Append(id));
        return text.Append(decoder.Flush()).ToString();
    }
}
