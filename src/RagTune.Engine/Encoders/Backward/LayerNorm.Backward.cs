using System.Numerics.Tensors;

namespace RagTune.Engine.Encoders;

// Dimension legend
//   D  features per row (hidden size)

/// <summary>Backward pass of LayerNorm (training only).</summary>
internal static partial class LayerNorm
{
    /// <summary>
    /// Gradient of y = x̂ · w + b with x̂ = (x − mean) · r, r = 1/sqrt(var + eps): dw += dy ⊙ x̂, db += dy, and
    /// dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)) with g = dy ⊙ w (overwritten, not accumulated). The statistics are
    /// recomputed from the forward input <paramref name="x"/> (cheaper than storing them). <paramref name="dx"/> may
    /// be <paramref name="dy"/>; <paramref name="scratch"/> holds 2·D floats.
    /// </summary>
    public static void Backward(Span<float> dx /*[D]*/, Span<float> dWeight /*[D]*/, Span<float> dBias /*[D]*/, ReadOnlySpan<float> dy /*[D]*/,
        ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, float eps, Span<float> scratch /*[2·D]*/)
    {
        int d = x.Length;
        CheckBackward(dx.Length, dWeight.Length, dBias.Length, dy.Length, d, weight.Length, scratch.Length, 2 * d);
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

    /// <summary>Scalar reference of <see cref="Backward"/>, sums in double.</summary>
    public static void BackwardReference(Span<float> dx /*[D]*/, Span<float> dWeight /*[D]*/, Span<float> dBias /*[D]*/, ReadOnlySpan<float> dy /*[D]*/,
        ReadOnlySpan<float> x /*[D]*/, ReadOnlySpan<float> weight /*[D]*/, float eps)
    {
        int d = x.Length;
        CheckBackward(dx.Length, dWeight.Length, dBias.Length, dy.Length, d, weight.Length, 2 * d, 2 * d);
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

    private static void CheckBackward(int dx, int dWeight, int dBias, int dy, int x, int weight, int scratch, int scratchNeeded)
    {
        if (dx < x || dWeight != x || dBias != x || dy < x || weight != x || scratch < scratchNeeded)
            throw new ArgumentException($"LayerNorm.Backward length mismatch: x {x}, weight {weight}, dWeight {dWeight}, dBias {dBias}, dy {dy}, dx {dx}, scratch {scratch} (needs {scratchNeeded}).");
    }
}
