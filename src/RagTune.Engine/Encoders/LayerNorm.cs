using System.Numerics.Tensors;

namespace RagTune.Engine.Encoders;

// Dimension legend
//   D  features per row (hidden size)
//   T  rows (tokens)

/// <summary>LayerNorm (Ba et al. 2016) as BERT uses it: y = (x − mean) / sqrt(var + eps) · weight + bias, biased variance.</summary>
internal static partial class LayerNorm
{
    /// <summary>
    /// Normalises one row. Mean and variance are computed in two passes in float with SIMD lanes (PyTorch's CPU kernel
    /// uses a two-pass Welford-style float accumulation too); the reference accumulates in double. <paramref name="y"/> may be <paramref name="x"/>.
    /// </summary>
    public static void Forward(Span<float> y /*[D]*/, ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, ReadOnlySpan<float> bias /*[D]*/, float eps)
    {
        CheckLengths(y.Length, x.Length, weight.Length, bias.Length);
        int d = x.Length;
        if (d == 0) return;
        float mean = TensorPrimitives.Sum(x) / d;
        TensorPrimitives.Subtract(x, mean, y);
        float variance = TensorPrimitives.SumOfSquares(y[..d]) / d;
        float rstd = 1f / MathF.Sqrt(variance + eps);
        TensorPrimitives.Multiply(y[..d], rstd, y);
        TensorPrimitives.FusedMultiplyAdd(y[..d], weight, bias, y);
    }

    /// <summary>Scalar reference of <see cref="Forward"/>: sums in double.</summary>
    public static void ForwardReference(Span<float> y /*[D]*/, ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, ReadOnlySpan<float> bias /*[D]*/, float eps)
    {
        CheckLengths(y.Length, x.Length, weight.Length, bias.Length);
        int d = x.Length;
        if (d == 0) return;
        double sum = 0;
        for (int i = 0; i < d; i++) sum += x[i];
        double mean = sum / d, sq = 0;
        for (int i = 0; i < d; i++) sq += (x[i] - mean) * (x[i] - mean);
        double rstd = 1.0 / Math.Sqrt(sq / d + eps);
        for (int i = 0; i < d; i++) y[i] = (float)((x[i] - mean) * rstd * weight[i] + bias[i]);
    }

    /// <summary><see cref="Forward"/> on each of the <paramref name="t"/> rows of a [T, D] matrix; D = weight.Length.</summary>
    public static void ForwardRows(Span<float> y /*[T, D]*/, ReadOnlySpan<float> x /*[T, D]*/, ReadOnlySpan<float> weight /*[D]*/, ReadOnlySpan<float> bias /*[D]*/, int t, float eps)
    {
        int d = weight.Length;
        if (x.Length < (long)t * d || y.Length < (long)t * d)
            throw new ArgumentException($"LayerNorm rows need [T={t}, D={d}] buffers; x has {x.Length} floats, y has {y.Length}.");
        for (int r = 0; r < t; r++)
            Forward(y.Slice(r * d, d), x.Slice(r * d, d), weight, bias, eps);
    }

    private static void CheckLengths(int y, int x, int weight, int bias)
    {
        if (x != weight || x != bias || y < x)
            throw new ArgumentException($"LayerNorm length mismatch: x has {x} floats, weight {weight}, bias {bias}, y {y}; all must equal the hidden size.");
    }
}
