using System.Security.Cryptography;
using System.Text;
using RagTune.Rag.Text;

namespace RagTune.Rag.Tests.Text;

public sealed class TextNormalizerTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(10_000)]
    public void The_block_hash_equals_the_defined_sha256_of_title_separator_and_text(int padding)
    {
        // A surrogate pair (😀) straddles the 4096-char block edge for padding 4095; a lone surrogate ends the title.
        var title = "Caf\u00e9 \ud83d";
        var text = new string('x', padding) + "\ud83d\ude00 na\u00efve \u4e2d\u6587";
        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(title + "\n\0\n" + text)));
        Assert.Equal(expected, TextNormalizer.ContentHash(title, text));
    }

    [Fact]
    public void Clean_text_comes_back_as_the_same_string_and_the_first_change_is_kept_exactly()
    {
        const string clean = "One line.\nTwo words here.\n\nA paragraph.";
        Assert.Same(clean, TextNormalizer.Normalize(clean));
        Assert.Equal("a b\nc", TextNormalizer.Normalize("a  b \r\n c "));
        Assert.Equal("trailing", TextNormalizer.Normalize("trailing   "));
        Assert.Equal("x y", TextNormalizer.Normalize("\tx\u00a0\u200by"));
        Assert.Equal("p\n\nq", TextNormalizer.Normalize("p\n\n\n\nq"));
    }
}
