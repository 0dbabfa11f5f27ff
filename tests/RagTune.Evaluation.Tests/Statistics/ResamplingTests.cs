using RagTune.Evaluation.Statistics;

namespace RagTune.Evaluation.Tests.Statistics;

public sealed class ResamplingTests
{
    private static List<double> Bernoulli(int n, double p, ulong seed)
    {
        var rng = new SplitMix64(seed);
        return Enumerable.Range(0, n).Select(_ => (rng.Next() >> 11) * (1.0 / (1UL << 53)) < p ? 1.0 : 0.0).ToList();
    }

    [Fact]
    public void Bootstrap_interval_contains_the_mean_and_narrows_with_more_questions()
    {
        var small = Resampling.BootstrapMean(Bernoulli(40, 0.6, 1), 2000, 0.95, 7);
        var large = Resampling.BootstrapMean(Bernoulli(1000, 0.6, 1), 2000, 0.95, 7);
        Assert.InRange(small.Mean, small.Low, small.High);
        Assert.InRange(large.Mean, large.Low, large.High);
        Assert.True(large.High - large.Low < (small.High - small.Low) / 2, $"n=1000 width {large.High - large.Low} vs n=40 width {small.High - small.Low}");
        // The normal approximation of a proportion's 95% interval: ±1.96·sqrt(p(1−p)/n) ≈ ±0.030 at n = 1000.
        double half = 1.96 * Math.Sqrt(large.Mean * (1 - large.Mean) / 1000);
        Assert.Equal(2 * half, large.High - large.Low, 0.01);
    }

    [Fact]
    public void Bootstrap_is_deterministic_per_seed()
    {
        // Continuous scores (token F1), so different resamples give different percentiles.
        var values = Enumerable.Range(0, 50).Select(i => (i * 37 % 50) / 49.0).ToList();
        Assert.Equal(Resampling.BootstrapMean(values, 2000, 0.95, 11), Resampling.BootstrapMean(values, 2000, 0.95, 11));
        Assert.NotEqual(Resampling.BootstrapMean(values, 2000, 0.95, 11), Resampling.BootstrapMean(values, 2000, 0.95, 12));
    }

    [Fact]
    public void Bootstrap_edge_cases()
    {
        var one = Resampling.BootstrapMean([0.7], 100, 0.95, 1);
        Assert.Equal(new Estimate(0.7, 0.7, 0.7, 1), one);
        var constant = Resampling.BootstrapMean([1, 1, 1, 1], 100, 0.95, 1);
        Assert.Equal(new Estimate(1, 1, 1, 4), constant);
        Assert.True(double.IsNaN(Resampling.BootstrapMean([], 100, 0.95, 1).Mean));
        Assert.Throws<ArgumentOutOfRangeException>(() => Resampling.BootstrapMean([1], 100, 1.5, 1));
    }

    [Fact]
    public void Paired_test_gives_a_small_p_for_a_clear_difference()
    {
        // 40 questions: a right on 36, b right on 8, a never wrong where b is right.
        var a = Enumerable.Range(0, 40).Select(i => i < 36 ? 1.0 : 0.0).ToList();
        var b = Enumerable.Range(0, 40).Select(i => i < 8 ? 1.0 : 0.0).ToList();
        var t = Resampling.PairedPermutation(a, b, 2000, 5);
        Assert.Equal(0.7, t.Difference, 12);
        Assert.Equal(40, t.N);
        // 28 discordant pairs all favour a: the exact two-sided p is 2·2^-28, so no resample is as extreme.
        Assert.Equal(1.0 / 2001, t.PValue, 12);
    }

    [Fact]
    public void Paired_test_gives_p_one_for_identical_arms_and_a_large_p_for_noise()
    {
        var a = Bernoulli(60, 0.5, 9);
        Assert.Equal(1.0, Resampling.PairedPermutation(a, a, 2000, 5).PValue);
        // Two discordant pairs, one each way: no evidence of a difference.
        var x = Enumerable.Range(0, 30).Select(i => i < 15 ? 1.0 : 0.0).ToList();
        var y = x.ToList();
        y[0] = 0; y[20] = 1;
        var t = Resampling.PairedPermutation(x, y, 2000, 5);
        Assert.Equal(0, t.Difference, 12);
        Assert.Equal(1.0, t.PValue);
    }

    [Fact]
    public void Paired_test_matches_the_exact_sign_test_on_a_small_case()
    {
        // 6 discordant pairs, 5 favour a: the exact two-sided sign-flip p = P(|S| >= 4) for S a sum of 6 random
        // signs of 1 = 2·(C(6,0)+C(6,1))/64 = 14/64 = 0.21875.
        var a = new double[] { 1, 1, 1, 1, 1, 0, 1, 1 };
        var b = new double[] { 0, 0, 0, 0, 0, 1, 1, 1 };
        var t = Resampling.PairedPermutation(a, b, 20000, 3);
        Assert.Equal(0.21875, t.PValue, 0.015);
    }

    [Fact]
    public void Percentile_interpolates_like_numpy()
    {
        double[] v = [1, 2, 3, 4, 10];
        Assert.Equal(3, Resampling.Percentile(v, 0.5));
        Assert.Equal(8.8, Resampling.Percentile(v, 0.95), 12); // 4 + 0.8·(10 − 4)
        Assert.Equal(1, Resampling.Percentile(v, 0));
        Assert.Equal(10, Resampling.Percentile(v, 1));
    }
}
