using RagTune.Engine.Encoders;

namespace RagTune.Engine.Tests.Encoders.Training;

public sealed class InfoNceLossTests
{
    private static float[] RandomRow(Random rng, int n, float scale) =>
        Enumerable.Range(0, n).Select(_ => scale * (float)(rng.NextDouble() * 2 - 1)).ToArray();

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
