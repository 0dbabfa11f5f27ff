using RagTune.Engine.Encoders;

namespace RagTune.Engine.Tests.Encoders.Backward;

public sealed class EncoderBackwardKernelTests
{
    private static float[] RandomRow(Random rng, int n, float scale, float offset = 0f) =>
        Enumerable.Range(0, n).Select(_ => offset + scale * (float)(rng.NextDouble() * 2 - 1)).ToArray();

    // Σ dy ⊙ LayerNorm(x) in double: the scalar whose derivatives the backward computes.
    private static double LayerNormObjective(float[] x, float[] w, float[] b, float[] dy, float eps)
    {
        var y = new float[x.Length];
        LayerNorm.ForwardReference(y, x, w, b, eps);
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += (double)y[i] * dy[i];
        return s;
    }

    [Fact]
    public void LayerNorm_backward_matches_the_double_reference_for_every_length_0_to_257()
    {
        var rng = new Random(11);
        for (int n = 0; n <= 257; n++)
        {
            var x = RandomRow(rng, n, 3f, 0.5f);
            var w = RandomRow(rng, n, 0.5f, 1f);
            var dy = RandomRow(rng, n, 1f);
            var (dx, dw, db) = (new float[n], RandomRow(rng, n, 0.1f), RandomRow(rng, n, 0.1f));
            var (rdx, rdw, rdb) = (new float[n], (float[])dw.Clone(), (float[])db.Clone());
            LayerNorm.Backward(dx, dw, db, dy, x, w, 1e-12f, new float[2 * n]);
            LayerNorm.BackwardReference(rdx, rdw, rdb, dy, x, w, 1e-12f);
            for (int i = 0; i < n; i++)
            {
                Assert.True(Math.Abs(dx[i] - rdx[i]) <= 1e-4f * (1 + Math.Abs(rdx[i])), $"n={n} dx[{i}]: {dx[i]} vs {rdx[i]}");
                Assert.True(Math.Abs(dw[i] - rdw[i]) <= 1e-5f * (1 + Math.Abs(rdw[i])), $"n={n} dw[{i}]: {dw[i]} vs {rdw[i]}");
                Assert.Equal(rdb[i], db[i], 6);
            }
        }
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
        LayerNorm.BackwardReference(dx, dw, db, dy, x, w, 1e-5f);
        const float h = 1e-2f;
        for (int i = 0; i < n; i++)
        {
            double Numeric(float[] v)
            {
                float keep = v[i];
                v[i] = keep + h; double up = LayerNormObjective(x, w, b, dy, 1e-5f);
                v[i] = keep - h; double down = LayerNormObjective(x, w, b, dy, 1e-5f);
                v[i] = keep;
                return (up - down) / (2 * h);
            }
            Assert.True(Math.Abs(dx[i] - Numeric(x)) <= 2e-3 * (1 + Math.Abs(dx[i])), $"n={n} dx[{i}]: {dx[i]} vs {Numeric(x)}");
            Assert.True(Math.Abs(dw[i] - Numeric(w)) <= 2e-3 * (1 + Math.Abs(dw[i])), $"n={n} dw[{i}]: {dw[i]} vs {Numeric(w)}");
            Assert.True(Math.Abs(db[i] - Numeric(b)) <= 2e-3 * (1 + Math.Abs(db[i])), $"n={n} db[{i}]: {db[i]} vs {Numeric(b)}");
        }
    }

    [Fact]
    public void Gelu_backward_matches_the_double_reference_for_every_length_0_to_257()
    {
        var rng = new Random(12);
        for (int n = 0; n <= 257; n++)
        {
            var x = RandomRow(rng, n, 8f);
            var dy = RandomRow(rng, n, 2f);
            var dx = new float[n];
            var rdx = new float[n];
            Gelu.Backward(dx, dy, x);
            Gelu.BackwardReference(rdx, dy, x);
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
            Gelu.BackwardReference(dx, [1f], [(float)v]);
            const double h = 1e-4;
            static double Exact(double z) => 0.5 * z * (1 + Gelu.ErfReference(z / Math.Sqrt(2)));
            double numeric = (Exact(v + h) - Exact(v - h)) / (2 * h);
            Assert.True(Math.Abs(dx[0] - numeric) <= 1e-6, $"x={v}: {dx[0]} vs {numeric}");
        }
    }

    [Fact]
    public void Gelu_backward_may_write_over_dy()
    {
        var x = new float[] { -1f, 0f, 0.5f, 3f };
        var dy = new float[] { 1f, 2f, 3f, 4f };
        var expected = new float[4];
        Gelu.Backward(expected, dy, x);
        Gelu.Backward(dy, dy, x);
        Assert.Equal(expected, dy);
    }

    [Fact]
    public void InfoNce_gradients_match_finite_differences_with_hard_negatives_and_exclusions()
    {
        var rng = new Random(5);
        int q = 3, p = 5, h = 6;
        var queries = RandomRow(rng, q * h, 1f);
        var passages = RandomRow(rng, p * h, 1f);
        int[] targets = [0, 1, 2];
        var excluded = new bool[q * p];
        excluded[0 * p + 4] = true;
        const float tau = 0.5f;
        var dq = new float[q * h];
        var dp = new float[p * h];
        float loss = InfoNceLoss.Compute(dq, dp, queries, passages, targets, excluded, tau);
        Assert.True(loss > 0);

        double Loss() => InfoNceLoss.Compute(new float[q * h], new float[p * h], queries, passages, targets, excluded, tau);
        const float step = 1e-2f;
        foreach (var (values, grads) in new[] { (queries, dq), (passages, dp) })
            for (int i = 0; i < values.Length; i++)
            {
                float keep = values[i];
                values[i] = keep + step; double up = Loss();
                values[i] = keep - step; double down = Loss();
                values[i] = keep;
                double numeric = (up - down) / (2 * step);
                Assert.True(Math.Abs(grads[i] - numeric) <= 2e-3 * (1 + Math.Abs(numeric)), $"[{i}]: {grads[i]} vs {numeric}");
            }
        // The excluded passage only matters to queries it is not excluded for: query 0 alone would give it no gradient.
        var dpSolo = new float[p * h];
        InfoNceLoss.Compute(new float[h], dpSolo, queries.AsSpan(0, h), passages, [0], excluded.AsSpan(0, p), tau);
        Assert.All(dpSolo.AsSpan(4 * h, h).ToArray(), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void InfoNce_rejects_bad_shapes_and_temperatures()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => InfoNceLoss.Compute(new float[2], new float[2], new float[2], new float[2], [0], [], 0f));
        Assert.Throws<ArgumentOutOfRangeException>(() => InfoNceLoss.Compute(new float[2], new float[2], new float[2], new float[2], [1], [], 0.05f));
        Assert.Throws<ArgumentException>(() => InfoNceLoss.Compute(new float[2], new float[3], new float[2], new float[3], [0], [], 0.05f));
    }
}
