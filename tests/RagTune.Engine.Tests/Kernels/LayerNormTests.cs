using RagTune.Engine.Kernels;

namespace RagTune.Engine.Tests.Kernels;

/// <summary><see cref="Norms.LayerNorm"/> and <see cref="Norms.LayerNormBackward"/> (BERT's norm) against their double references.</summary>
[Trait("Category", "Kernels")]
public sealed class LayerNormTests
{
    // Every length 0..257 (each SIMD width's tails) plus BERT hidden sizes and an odd large one.
    private static IEnumerable<int> Lengths => Enumerable.Range(0, 258).Concat([384, 768, 1024, 4099]);

    private static float[] RandomRow(Random rng, int n, float scale, float offset = 0f) =>
        Enumerable.Range(0, n).Select(_ => offset + scale * (float)(rng.NextDouble() * 2 - 1)).ToArray();

    // Σ dy ⊙ LayerNorm(x) in double: the scalar whose derivatives the backward computes.
    private static double Objective(float[] x, float[] w, float[] b, float[] dy, float eps)
    {
        var y = new float[x.Length];
        Norms.LayerNormReference(y, x, w, b, eps);
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += (double)y[i] * dy[i];
        return s;
    }

    [Fact]
    public void LayerNorm_matches_the_double_reference_for_every_length()
    {
        var rng = new Random(1);
        foreach (int n in Lengths)
        {
            var x = RandomRow(rng, n, 3f, 0.5f); // [D]
            var w = RandomRow(rng, n, 0.5f, 1f); // [D]
            var b = RandomRow(rng, n, 0.2f);     // [D]
            var fast = new float[n];
            var reference = new float[n];
            Norms.LayerNorm(fast, x, w, b, 1e-12f);
            Norms.LayerNormReference(reference, x, w, b, 1e-12f);
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
        Norms.LayerNorm(x, x, w, b, 1e-12f);
        Assert.All(x, v => Assert.Equal(0.5f, v));
        Assert.Throws<ArgumentException>(() => Norms.LayerNorm(new float[3], new float[3], new float[2], new float[3], 1e-5f));
    }

    [Fact]
    public void LayerNormRows_normalises_each_row()
    {
        var rng = new Random(3);
        const int t = 3, d = 37;
        var x = RandomRow(rng, t * d, 2f); // [T, D]
        var w = RandomRow(rng, d, 0.5f, 1f);
        var b = RandomRow(rng, d, 0.2f);
        var y = new float[t * d];
        Norms.LayerNormRows(y, x, w, b, t, 1e-12f);
        for (int r = 0; r < t; r++)
        {
            var expected = new float[d];
            Norms.LayerNorm(expected, x.AsSpan(r * d, d), w, b, 1e-12f);
            Assert.Equal(expected, y.AsSpan(r * d, d).ToArray());
        }
        Assert.Throws<ArgumentException>(() => Norms.LayerNormRows(new float[t * d - 1], x, w, b, t, 1e-12f));
    }

    [Fact]
    public void LayerNorm_backward_matches_the_double_reference_for_every_length()
    {
        var rng = new Random(11);
        foreach (int n in Lengths)
        {
            var x = RandomRow(rng, n, 3f, 0.5f);
            var w = RandomRow(rng, n, 0.5f, 1f);
            var dy = RandomRow(rng, n, 1f);
            var (dx, dw, db) = (new float[n], RandomRow(rng, n, 0.1f), RandomRow(rng, n, 0.1f));
            var (rdx, rdw, rdb) = (new float[n], (float[])dw.Clone(), (float[])db.Clone());
            Norms.LayerNormBackward(dx, dw, db, dy, x, w, 1e-12f, new float[2 * n]);
            Norms.LayerNormBackwardReference(rdx, rdw, rdb, dy, x, w, 1e-12f);
            for (int i = 0; i < n; i++)
            {
                Assert.True(Math.Abs(dx[i] - rdx[i]) <= 1e-4f * (1 + Math.Abs(rdx[i])), $"n={n} dx[{i}]: {dx[i]} vs {rdx[i]}");
                Assert.True(Math.Abs(dw[i] - rdw[i]) <= 1e-5f * (1 + Math.Abs(rdw[i])), $"n={n} dw[{i}]: {dw[i]} vs {rdw[i]}");
                Assert.Equal(rdb[i], db[i], 6);
            }
        }
    }

    [Fact]
    public void LayerNorm_backward_may_write_over_dy_and_checks_lengths()
    {
        var rng = new Random(12);
        const int n = 19;
        var x = RandomRow(rng, n, 2f);
        var w = RandomRow(rng, n, 0.5f, 1f);
        var dy = RandomRow(rng, n, 1f);
        var expected = new float[n];
        Norms.LayerNormBackward(expected, new float[n], new float[n], dy, x, w, 1e-12f, new float[2 * n]);
        Norms.LayerNormBackward(dy, new float[n], new float[n], dy, x, w, 1e-12f, new float[2 * n]);
        Assert.Equal(expected, dy);
        Assert.Throws<ArgumentException>(() => Norms.LayerNormBackward(new float[n], new float[n], new float[n], dy, x, w, 1e-12f, new float[n]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(257)]
    public void LayerNorm_backward_reference_matches_finite_differences(int n)
    {
        var rng = new Random(n);
        var x = RandomRow(rng, n, 2f, 0.3f);
        var w = RandomRow(rng, n, 0.5f, 1f);
        var b = RandomRow(rng, n, 0.2f);
        var dy = RandomRow(rng, n, 1f);
        var (dx, dw, db) = (new float[n], new float[n], new float[n]);
        Norms.LayerNormBackwardReference(dx, dw, db, dy, x, w, 1e-5f);
        const float h = 1e-2f;
        for (int i = 0; i < n; i++)
        {
            double Numeric(float[] v)
            {
                float keep = v[i];
                v[i] = keep + h; double up = Objective(x, w, b, dy, 1e-5f);
                v[i] = keep - h; double down = Objective(x, w, b, dy, 1e-5f);
                v[i] = keep;
                return (up - down) / (2 * h);
            }
            Assert.True(Math.Abs(dx[i] - Numeric(x)) <= 2e-3 * (1 + Math.Abs(dx[i])), $"n={n} dx[{i}]: {dx[i]} vs {Numeric(x)}");
            Assert.True(Math.Abs(dw[i] - Numeric(w)) <= 2e-3 * (1 + Math.Abs(dw[i])), $"n={n} dw[{i}]: {dw[i]} vs {Numeric(w)}");
            Assert.True(Math.Abs(db[i] - Numeric(b)) <= 2e-3 * (1 + Math.Abs(db[i])), $"n={n} db[{i}]: {db[i]} vs {Numeric(b)}");
        }
    }
}
