namespace RagTune.Rag.Sqlite.Tests;

/// <summary>
/// The int8 dot against its scalar reference at every length 0..257 and at the extremes (±127 everywhere, the
/// largest sums). Run again with DOTNET_EnableAVX512=0 and DOTNET_EnableAVX2=0 to cover the narrower paths.
/// </summary>
public sealed class Int8DotTests
{
    [Fact]
    public void Dot_equals_the_scalar_reference_at_every_length()
    {
        var rng = new Random(3);
        for (int n = 0; n <= 257; n++)
        {
            var a = new sbyte[n + 3];
            var b = new sbyte[n + 3];
            for (int i = 0; i < a.Length; i++) { a[i] = (sbyte)rng.Next(-127, 128); b[i] = (sbyte)rng.Next(-127, 128); }
            Assert.Equal(Int8Dot.ScalarReference(a.AsSpan(0, n), b.AsSpan(0, n)), Int8Dot.Dot(a.AsSpan(0, n), b.AsSpan(0, n)));
            Assert.Equal(Int8Dot.ScalarReference(a.AsSpan(3, n), b.AsSpan(1, n)), Int8Dot.Dot(a.AsSpan(3, n), b.AsSpan(1, n))); // unaligned
        }
    }

    [Theory]
    [InlineData(127, 127)]
    [InlineData(-127, 127)]
    [InlineData(-127, -127)]
    public void Dot_is_exact_at_the_extremes(int x, int y)
    {
        foreach (int n in new[] { 31, 384, 4096, Int8Dot.MaxLength })
        {
            var a = Enumerable.Repeat((sbyte)x, n).ToArray();
            var b = Enumerable.Repeat((sbyte)y, n).ToArray();
            Assert.Equal((long)x * y * n, Int8Dot.Dot(a, b));
        }
    }

    [Fact]
    public void Lengths_must_agree() => Assert.Throws<ArgumentException>(() => Int8Dot.Dot(new sbyte[3], new sbyte[4]));
}
