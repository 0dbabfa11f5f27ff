using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   D  features per row (model dim)
//   T  rows

/// <summary>Normalisation layers.</summary>
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

    private static void CheckLengths(int y, int x, int weight)
    {
        if (x != weight || y < x)
            throw new ArgumentException($"RmsNorm length mismatch: x has {x} floats, weight {weight}, y {y}; all must equal the model dim.");
    }
}
