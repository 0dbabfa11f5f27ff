using RagTune.Engine.Encoders;

namespace RagTune.Engine.Tests.Encoders;

public sealed class EncoderKernelTests
{
    private static float[] RandomRow(Random rng, int n, float scale, float offset = 0f) =>
        Enumerable.Range(0, n).Select(_ => offset + scale * (float)(rng.NextDouble() * 2 - 1)).ToArray();

    [Fact]
    public void LayerNorm_matches_the_double_reference_for_every_length_0_to_257()
    {
        var rng = new Random(1);
        for (int n = 0; n <= 257; n++)
        {
            var x = RandomRow(rng, n, 3f, 0.5f);
            var w = RandomRow(rng, n, 0.5f, 1f);
            var b = RandomRow(rng, n, 0.2f);
            var fast = new float[n];
            var reference = new float[n];
            LayerNorm.Forward(fast, x, w, b, 1e-12f);
            LayerNorm.ForwardReference(reference, x, w, b, 1e-12f);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(fast[i] - reference[i]) <= 2e-5f * (1 + Math.Abs(reference[i])), $"n={n} i={i}: {fast[i]} vs {reference[i]}");
        }
    }

    [Fact]
    public void LayerNorm_in_place_and_constant_rows_are_handled()
    {
        var x = new float[] { 2, 2, 2, 2, 2 };
        var w = new float[] { 1, 1, 1, 1, 1 };
        var b = new float[] { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f };
        LayerNorm.Forward(x, x, w, b, 1e-12f);
        Assert.All(x, v => Assert.Equal(0.5f, v));
        Assert.Throws<ArgumentException>(() => LayerNorm.Forward(new float[3], new float[3], new float[2], new float[3], 1e-5f));
    }

    [Fact]
    public void Gelu_matches_the_exact_erf_reference_for_every_length_0_to_257()
    {
        var rng = new Random(2);
        for (int n = 0; n <= 257; n++)
        {
            var x = RandomRow(rng, n, 8f);
            var fast = (float[])x.Clone();
            var reference = (float[])x.Clone();
            Gelu.Forward(fast);
            Gelu.ForwardReference(reference);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(fast[i] - reference[i]) <= 1e-6f * Math.Max(1f, Math.Abs(x[i])), $"n={n} x={x[i]}: {fast[i]} vs {reference[i]}");
        }
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(1.0, 0.8413447460685429)]     // Φ(1)
    [InlineData(-1.0, -0.15865525393145707)]  // −(1 − Φ(1))
    [InlineData(3.0, 2.9959502965563)]
    [InlineData(-20.0, 0.0)]
    [InlineData(20.0, 20.0)]
    public void Gelu_known_values(double x, double expected)
    {
        var v = new[] { (float)x };
        Gelu.Forward(v);
        Assert.Equal(expected, v[0], 6);
        Assert.Equal(0.8427007929497149, Gelu.ErfReference(1.0), 12);
    }

    [Theory]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(2.4, 0.9993114861033555)]
    [InlineData(2.6, 0.9997639655834707)]
    [InlineData(-4.0, -0.9999999845827421)]
    public void Erf_reference_known_values(double z, double expected) => Assert.Equal(expected, Gelu.ErfReference(z), 14);
}
