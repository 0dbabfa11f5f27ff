namespace RagTune.Evaluation.Statistics;

/// <summary>A mean with its two-sided confidence interval, over <paramref name="N"/> observations.</summary>
public sealed record Estimate(double Mean, double Low, double High, int N)
{
    /// <summary>True when the two intervals share a point.</summary>
    public bool Overlaps(Estimate other) => Low <= other.High && other.Low <= High;
}

/// <summary>A paired comparison: mean difference a − b over the shared questions and its two-sided p-value.</summary>
public sealed record PairedComparison(double Difference, double PValue, int N);

/// <summary>
/// Percentile bootstrap confidence intervals and the paired sign-flip permutation test (Efron &amp; Tibshirani,
/// "An Introduction to the Bootstrap", ch. 13 and 15). Every resample draws from a <see cref="SplitMix64"/> seeded
/// by the caller, so the same input and seed give the same interval on every machine and .NET version.
/// </summary>
internal static class Resampling
{
    /// <summary>
    /// The mean of <paramref name="values"/> with a percentile bootstrap interval at <paramref name="confidence"/>.
    /// No values: NaN everywhere; one value: a zero-width interval.
    /// </summary>
    public static Estimate BootstrapMean(IReadOnlyList<double> values, int resamples, double confidence, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (resamples < 1) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "at least one resample is needed");
        if (confidence is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "confidence must be in (0, 1)");
        int n = values.Count;
        if (n == 0) return new Estimate(double.NaN, double.NaN, double.NaN, 0);
        double mean = Mean(values);
        if (n == 1) return new Estimate(mean, mean, mean, 1);
        var rng = new SplitMix64(seed);
        var means = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += values[rng.NextIndex(n)];
            means[r] = sum / n;
        }
        Array.Sort(means);
        double tail = (1 - confidence) / 2;
        // Clamp so rounding in the resampled sums never puts the mean outside its own interval.
        double low = Math.Min(mean, Percentile(means, tail)), high = Math.Max(mean, Percentile(means, 1 - tail));
        return new Estimate(mean, low, high, n);
    }

    /// <summary>
    /// Two-sided paired sign-flip permutation test of mean(a − b) = 0: under the null hypothesis each question's
    /// difference is as likely negative as positive, so each resample flips every sign with probability ½.
    /// p = (1 + #{|resampled mean| ≥ |observed mean|}) / (1 + resamples), never 0 (Phipson &amp; Smyth 2010).
    /// Identical arms give p = 1.
    /// </summary>
    public static PairedComparison PairedPermutation(IReadOnlyList<double> a, IReadOnlyList<double> b, int resamples, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count) throw new ArgumentException($"paired samples need equal lengths (got {a.Count} and {b.Count}).");
        if (resamples < 1) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "at least one resample is needed");
        int n = a.Count;
        if (n == 0) return new PairedComparison(double.NaN, double.NaN, 0);
        var d = new double[n];
        for (int i = 0; i < n; i++) d[i] = a[i] - b[i];
        double observed = Mean(d);
        // A tolerance keeps resamples equal to the observed value (up to summation order) counted as "as extreme".
        double threshold = Math.Abs(observed) - 1e-12;
        var rng = new SplitMix64(seed);
        int extreme = 0;
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += rng.NextBit() ? d[i] : -d[i];
            if (Math.Abs(sum / n) >= threshold) extreme++;
        }
        return new PairedComparison(observed, (1.0 + extreme) / (1.0 + resamples), n);
    }

    /// <summary>Linear-interpolation percentile (NumPy's default, R type 7) of already sorted values; <paramref name="q"/> in [0, 1].</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0) return double.NaN;
        double pos = Math.Clamp(q, 0, 1) * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    /// <summary>The mean, or NaN for no values.</summary>
    public static double Mean(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        double sum = 0;
        foreach (var v in values) sum += v;
        return sum / values.Count;
    }
}

/// <summary>
/// SplitMix64 (Steele, Lea &amp; Flood 2014; constants from Vigna's reference splitmix64.c): a tiny, fully specified
/// generator, so resampling does not depend on <see cref="Random"/>'s implementation.
/// </summary>
internal struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, n) by Lemire's multiply-shift (the bias is below 2^-32 for the sizes used here).</summary>
    public int NextIndex(int n) => (int)(((Next() >> 32) * (ulong)n) >> 32);

    public bool NextBit() => (Next() >> 63) != 0;
}
