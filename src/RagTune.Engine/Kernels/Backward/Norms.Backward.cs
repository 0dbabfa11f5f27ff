using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   D  features per row (model dim; hidden size in BERT)

/// <summary>Backward passes of the normalisation layers (training only).</summary>
internal static partial class Norms
{
    /// <summary>
    /// Gradient of RMSNorm y = x · r · w with r = 1/sqrt(mean(x²) + eps), for a frozen weight w:
    /// dx += r · (dy ⊙ w) − x · r³ / D · Σ(dy ⊙ w ⊙ x). The statistic r is recomputed from x (cheaper than storing it).
    /// Accumulates into <paramref name="dx"/> (the residual stream's gradient); <paramref name="scratch"/> holds D floats.
    /// </summary>
    public static void RmsNormBackward(Span<float> dx /*[D]*/, ReadOnlySpan<float> dy /*[D]*/, ReadOnlySpan<float> x /*[D]*/,
        ReadOnlySpan<float> weight /*[D]*/, float eps, Span<float> scratch /*[D]*/)
    {
        int d = x.Length;
        CheckBackward(dx.Length, dy.Length, d, weight.Length, scratch.Length);
        if (d == 0) return;
        float r = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / d + eps);
        var dyw = scratch[..d];
        TensorPrimitives.Multiply(dy, weight, dyw);
        float dot = TensorPrimitives.Dot(dyw, x);
        // dx += r·dyw + c·x, c = −r³·dot/D
        float c = -r * r * r * dot / d;
        TensorPrimitives.MultiplyAdd(dyw, r, dx[..d], dx[..d]);
        TensorPrimitives.MultiplyAdd(x, c, dx[..d], dx[..d]);
    }

    /// <summary>Scalar reference of <see cref="RmsNormBackward"/>, sums in double.</summary>
    public static void RmsNormBackwardReference(Span<float> dx /*[D]*/, ReadOnlySpan<float> dy /*[D]*/, ReadOnlySpan<float> x /*[D]*/,
        ReadOnlySpan<float> weight /*[D]*/, float eps)
    {
        int d = x.Length;
        CheckBackward(dx.Length, dy.Length, d, weight.Length, d);
        if (d == 0) return;
        double ss = 0, dot = 0;
        for (int i = 0; i < d; i++) { ss += (double)x[i] * x[i]; dot += (double)dy[i] * weight[i] * x[i]; }
        double r = 1.0 / Math.Sqrt(ss / d + eps);
        for (int i = 0; i < d; i++)
            dx[i] += (float)(r * dy[i] * weight[i] - x[i] * r * r * r * dot / d);
    }

    /// <summary>
    /// dw[i] += r · dy[i] · x[i] with r = 1/√(mean(x²) + eps): the gradient of the norm's own weight (full fine-tuning).
    /// <paramref name="scratch"/> holds D floats.
    /// </summary>
    public static void RmsNormWeightBackward(Span<float> dw /*[D]*/, ReadOnlySpan<float> dy /*[D]*/, ReadOnlySpan<float> x /*[D]*/, float eps, Span<float> scratch /*[D]*/)
    {
        int d = x.Length;
        CheckBackward(dy.Length, dy.Length, d, dw.Length, scratch.Length);
        if (d == 0) return;
        float r = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / d + eps);
        var xr = scratch[..d];
        TensorPrimitives.Multiply(x, r, xr);
        TensorPrimitives.MultiplyAdd(dy[..d], xr, dw, dw);
    }

    /// <summary>Scalar reference of <see cref="RmsNormWeightBackward"/>, sums in double.</summary>
    public static void RmsNormWeightBackwardReference(Span<float> dw /*[D]*/, ReadOnlySpan<float> dy /*[D]*/, ReadOnlySpan<float> x /*[D]*/, float eps)
    {
        int d = x.Length;
        CheckBackward(dy.Length, dy.Length, d, dw.Length, d);
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)x[i] * x[i];
        double r = 1.0 / Math.Sqrt(ss / d + eps);
        for (int i = 0; i < d; i++) dw[i] += (float)(r * dy[i] * x[i]);
    }

    /// <summary>
    /// Gradient of LayerNorm y = x̂ · w + b with x̂ = (x − mean) · r, r = 1/sqrt(var + eps): dw += dy ⊙ x̂, db += dy, and
    /// dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)) with g = dy ⊙ w (overwritten, not accumulated). The statistics are
    /// recomputed from the forward input <paramref name="x"/> (cheaper than storing them). <paramref name="dx"/> may
    /// be <paramref name="dy"/>; <paramref name="scratch"/> holds 2·D floats.
    /// </summary>
    public static void LayerNormBackward(Span<float> dx /*[D]*/, Span<float> dWeight /*[D]*/, Span<float> dBias /*[D]*/, ReadOnlySpan<float> dy /*[D]*/,
        ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, float eps, Span<float> scratch /*[2·D]*/)
    {
        int d = x.Length;
        CheckLayerNormBackward(dx.Length, dWeight.Length, dBias.Length, dy.Length, d, weight.Length, scratch.Length, 2 * d);
        if (d == 0) return;
        var xhat = scratch[..d];
        var g = scratch.Slice(d, d);
        float mean = TensorPrimitives.Sum(x) / d;
        TensorPrimitives.Subtract(x, mean, xhat);
        float r = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares<float>(xhat) / d + eps);
        TensorPrimitives.Multiply(xhat, r, xhat);
        TensorPrimitives.MultiplyAdd(dy[..d], xhat, dWeight[..d], dWeight[..d]);
        TensorPrimitives.Add(dBias[..d], dy[..d], dBias[..d]);
        TensorPrimitives.Multiply(dy[..d], weight, g);
        float meanG = TensorPrimitives.Sum<float>(g) / d;
        float meanGx = TensorPrimitives.Dot<float>(g, xhat) / d;
        // dx = r·g − r·meanG − (r·meanGx)·x̂
        TensorPrimitives.MultiplyAdd(xhat, -meanGx, g, g);
        TensorPrimitives.Subtract(g, meanG, g);
        TensorPrimitives.Multiply(g, r, dx[..d]);
    }

    /// <summary>Scalar reference of <see cref="LayerNormBackward"/>, sums in double.</summary>
    public static void LayerNormBackwardReference(Span<float> dx /*[D]*/, Span<float> dWeight /*[D]*/, Span<float> dBias /*[D]*/, ReadOnlySpan<float> dy /*[D]*/,
        ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, float eps)
    {
        int d = x.Length;
        CheckLayerNormBackward(dx.Length, dWeight.Length, dBias.Length, dy.Length, d, weight.Length, 2 * d, 2 * d);
        if (d == 0) return;
        double sum = 0;
        for (int i = 0; i < d; i++) sum += x[i];
        double mean = sum / d, sq = 0;
        for (int i = 0; i < d; i++) sq += (x[i] - mean) * (x[i] - mean);
        double r = 1.0 / Math.Sqrt(sq / d + eps);
        var xhat = new double[d];
        var g = new double[d];
        double meanG = 0, meanGx = 0;
        for (int i = 0; i < d; i++)
        {
            xhat[i] = (x[i] - mean) * r;
            g[i] = (double)dy[i] * weight[i];
            meanG += g[i] / d;
            meanGx += g[i] * xhat[i] / d;
            dWeight[i] += (float)(dy[i] * xhat[i]);
            dBias[i] += dy[i];
        }
        for (int i = 0; i < d; i++) dx[i] = (float)(r * (g[i] - meanG - xhat[i] * meanGx));
    }

    private static void CheckLayerNormBackward(int dx, int dWeight, int dBias, int dy, int x, int weight, int scratch, int scratchNeeded)
    {
        if (dx < x || dWeight != x || dBias != x || dy < x || weight != x || scratch < scratchNeeded)
            throw new ArgumentException($"LayerNormBackward length mismatch: x {x}, weight {weight}, dWeight {dWeight}, dBias {dBias}, dy {dy}, dx {dx}, scratch {scratch} (needs {scratchNeeded}).");
    }

    private static void CheckBackward(int dx, int dy, int x, int weight, int scratch)
    {
        if (dx < x || dy < x || weight != x || scratch < x)
            throw new ArgumentException($"RmsNormBackward length mismatch: x {x}, weight {weight}, dy {dy}, dx {dx}, scratch {scratch}; all must hold the model dim.");
    }
}
