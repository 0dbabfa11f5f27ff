using RagTune.Engine.Kernels;

namespace RagTune.Engine.Tests.Kernels;

/// <summary><see cref="Activations.Gelu"/> and <see cref="Activations.GeluBackward"/> (BERT's exact-erf GELU) against their double references.</summary>
[Trait("Category", "Kernels")]
public sealed class GeluTests
{
    // Every length 0..257 (each SIMD width's tails) plus BERT intermediate sizes and an odd large one.
    private static IEnumerable<int> Lengths => Enumerable.Range(0, 258).Concat([1536, 3072, 4099]);

    private static float[] RandomRow(Random rng, int n, float scale) =>
        Enumerable.Range(0, n).Select(_ => scale * (float)(rng.NextDouble() * 2 - 1)).ToArray();

    [Fact]
    public void Gelu_matches_the_exact_erf_reference_for_every_length()
    {
        var rng = new Random(2);
        foreach (int n in Lengths)
        {
            var x = RandomRow(rng, n, 8f); // [n]
            var fast = (float[])x.Clone();
            var reference = (float[])x.Clone();
            Activations.Gelu(fast);
            Activations.GeluReference(reference);
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
        Activations.Gelu(v);
        Assert.Equal(expected, v[0], 6);
        Assert.Equal(0.8427007929497149, Activations.ErfReference(1.0), 12);
    }

    [Theory]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(2.4, 0.9993114861033555)]
    [InlineData(2.6, 0.9997639655834707)]
    [InlineData(-4.0, -0.9999999845827421)]
    public void Erf_reference_known_values(double z, double expected) => Assert.Equal(expected, Activations.ErfReference(z), 14);

    [Fact]
    public void Gelu_backward_matches_the_double_reference_for_every_length()
    {
        var rng = new Random(12);
        foreach (int n in Lengths)
        {
            var x = RandomRow(rng, n, 8f);
            var dy = RandomRow(rng, n, 2f);
            var dx = new float[n];
            var rdx = new float[n];
            Activations.GeluBackward(dx, dy, x);
            Activations.GeluBackwardReference(rdx, dy, x);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(dx[i] - rdx[i]) <= 2e-6f * Math.Max(1f, Math.Abs(dy[i])), $"n={n} x={x[i]}: {dx[i]} vs {rdx[i]}");
        }
    }

    [Fact]
    public void Gelu_backward_matches_finite_differences_of_the_exact_gelu()
    {
        for (double v = -6; v <= 6; v += 0.25)
        {
            var dx = new float[1];
            Activations.GeluBackwardReference(dx, [1f], [(float)v]);
            const double h = 1e-4;
            static double Exact(double z) => 0.5 * z * (1 + Activations.ErfReference(z / Math.Sqrt(2)));
            double numeric = (Exact(v + h) - Exact(v - h)) / (2 * h);
            Assert.True(Math.Abs(dx[0] - numeric) <= 1e-6, $"x={v}: {dx[0]} vs {numeric}");
        }
    }

    [Fact]
    public void Gelu_backward_may_write_over_dy_and_checks_lengths()
    {
        var x = new float[] { -1f, 0f, 0.5f, 3f };
        var dy = new float[] { 1f, 2f, 3f, 4f };
        var expected = new float[4];
        Activations.GeluBackward(expected, dy, x);
        Activations.GeluBackward(dy, dy, x);
        Assert.Equal(expected, dy);
        Assert.Throws<ArgumentException>(() => Activations.GeluBackward(new float[3], dy, x));
    }
}
