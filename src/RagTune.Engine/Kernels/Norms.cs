using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   D  features per row (model dim; hidden size in BERT)
//   T  rows (tokens)

/// <summary>Normalisation layers: RMSNorm (Llama family) and LayerNorm (BERT encoders).</summary>
internal static unsafe partial class Norms
{
    /// <summary>
    /// RMSNorm (Zhang and Sennrich 2019): y = x / sqrt(mean(x²) + eps) * weight. The sum of squares is
    /// accumulated in float with SIMD lanes; llama.cpp's ggml_compute_forward_rms_norm accumulates in double,
    /// and so does the reference here: they agree within ~1e-6 relative for D up to a few thousand.
    /// <paramref name="y"/> may be <paramref name="x"/>.
    /// </summary>
    public static void RmsNorm(Span<float> y /*[D]*/, ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, float eps)
    {
        CheckLengths(y.Length, x.Length, weight.Length);
        if (x.Length == 0) return;
        float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / x.Length + eps);
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>Scalar reference of <see cref="RmsNorm"/>, sum of squares in double.</summary>
    public static void RmsNormReference(Span<float> y /*[D]*/, ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, float eps)
    {
        CheckLengths(y.Length, x.Length, weight.Length);
        if (x.Length == 0) return;
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += (double)x[i] * x[i];
        float scale = (float)(1.0 / Math.Sqrt(sum / x.Length + eps));
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * scale * weight[i];
    }

    /// <summary><see cref="RmsNorm"/> applied to each of the <paramref name="t"/> rows of a [T, D] matrix; D = weight.Length.</summary>
    public static void RmsNormRows(Span<float> y /*[T, D]*/, ReadOnlySpan<float> x /*[T, D]*/, ReadOnlySpan<float> weight /*[D]*/, int t, float eps)
    {
        int d = weight.Length;
        if (x.Length < (long)t * d || y.Length < (long)t * d)
            throw new ArgumentException($"RmsNormRows needs [T={t}, D={d}] buffers; x has {x.Length} floats, y has {y.Length}.");
        for (int r = 0; r < t; r++)
            RmsNorm(y.Slice(r * d, d), x.Slice(r * d, d), weight, eps);
    }

    /// <summary>
    /// LayerNorm (Ba et al. 2016) as BERT uses it: y = (x − mean) / sqrt(var + eps) · weight + bias, biased variance.
    /// Mean and variance are computed in two passes in float with SIMD lanes (PyTorch's CPU kernel uses a two-pass
    /// Welford-style float accumulation too); the reference accumulates in double. <paramref name="y"/> may be <paramref name="x"/>.
    /// </summary>
    public static void LayerNorm(Span<float> y /*[D]*/, ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, ReadOnlySpan<float> bias /*[D]*/, float eps)
    {
        CheckLayerNormLengths(y.Length, x.Length, weight.Length, bias.Length);
        int d = x.Length;
        if (d == 0) return;
        float mean = TensorPrimitives.Sum(x) / d;
        TensorPrimitives.Subtract(x, mean, y);
        float variance = TensorPrimitives.SumOfSquares(y[..d]) / d;
        float rstd = 1f / MathF.Sqrt(variance + eps);
        TensorPrimitives.Multiply(y[..d], rstd, y);
        TensorPrimitives.FusedMultiplyAdd(y[..d], weight, bias, y);
    }

    /// <summary>Scalar reference of <see cref="LayerNorm"/>: sums in double.</summary>
    public static void LayerNormReference(Span<float> y /*[D]*/, ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, ReadOnlySpan<float> bias /*[D]*/, float eps)
    {
        CheckLayerNormLengths(y.Length, x.Length, weight.Length, bias.Length);
        int d = x.Length;
        if (d == 0) return;
        double sum = 0;
        for (int i = 0; i < d; i++) sum += x[i];
        double mean = sum / d, sq = 0;
        for (int i = 0; i < d; i++) sq += (x[i] - mean) * (x[i] - mean);
        double rstd = 1.0 / Math.Sqrt(sq / d + eps);
        for (int i = 0; i < d; i++) y[i] = (float)((x[i] - mean) * rstd * weight[i] + bias[i]);
    }

    /// <summary><see cref="LayerNorm"/> on each of the <paramref name="t"/> rows of a [T, D] matrix; D = weight.Length.</summary>
    public static void LayerNormRows(Span<float> y /*[T, D]*/, ReadOnlySpan<float> x /*[T, D]*/, ReadOnlySpan<float> weight /*[D]*/, ReadOnlySpan<float> bias /*[D]*/, int t, float eps)
    {
        int d = weight.Length;
        if (x.Length < (long)t * d || y.Length < (long)t * d)
            throw new ArgumentException($"LayerNorm rows need [T={t}, D={d}] buffers; x has {x.Length} floats, y has {y.Length}.");
        for (int r = 0; r < t; r++)
            LayerNorm(y.Slice(r * d, d), x.Slice(r * d, d), weight, bias, eps);
    }

    private static void CheckLayerNormLengths(int y, int x, int weight, int bias)
    {
        if (x != weight || x != bias || y < x)
            throw new ArgumentException($"LayerNorm length mismatch: x has {x} floats, weight {weight}, bias {bias}, y {y}; all must equal the hidden size.");
    }

    private static void CheckLengths(int y, int x, int weight)
    {
        if (x != weight || y < x)
            throw new ArgumentException($"RmsNorm length mismatch: x has {x} floats, weight {weight}, y {y}; all must equal the model dim.");
    }
}
