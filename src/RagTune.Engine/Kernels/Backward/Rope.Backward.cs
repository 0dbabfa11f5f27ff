namespace RagTune.Engine.Kernels;

// Dimension legend
//   H   heads in the vector
//   hd  head dimension (even)

/// <summary>Backward pass of the rotary embedding (training only).</summary>
internal static partial class Rope
{
    /// <summary>
    /// Gradient of <see cref="Apply"/>: each pair was rotated by R(θ), an orthogonal matrix, so dx = R(θ)ᵀ·dy = R(−θ)·dy.
    /// Rotating by position −pos gives exactly −θ (float negation is exact; cos is even, sin odd). In place.
    /// </summary>
    public static void Backward(Span<float> dx /*[H, hd]*/, int nHeads, int headDim, int pos, ReadOnlySpan<float> invFreq /*[hd/2]*/, RopeMode mode) =>
        Apply(dx, nHeads, headDim, -pos, invFreq, mode);

    /// <summary>Scalar reference of <see cref="Backward"/>, written as the transposed rotation.</summary>
    public static void BackwardReference(Span<float> dx /*[H, hd]*/, int nHeads, int headDim, int pos, ReadOnlySpan<float> invFreq /*[hd/2]*/, RopeMode mode)
    {
        Check(dx.Length, nHeads, headDim, invFreq.Length);
        int half = headDim / 2;
        for (int h = 0; h < nHeads; h++)
        {
            var head = dx.Slice(h * headDim, headDim);
            for (int i = 0; i < half; i++)
            {
                float angle = pos * invFreq[i];
                float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                int a = mode == RopeMode.Normal ? 2 * i : i;
                int b = mode == RopeMode.Normal ? 2 * i + 1 : i + half;
                float d0 = head[a], d1 = head[b];
                // forward: y0 = x0·cos − x1·sin, y1 = x0·sin + x1·cos  ⇒  dx0 = dy0·cos + dy1·sin, dx1 = −dy0·sin + dy1·cos
                head[a] = d0 * cos + d1 * sin;
                head[b] = -d0 * sin + d1 * cos;
            }
        }
    }
}
