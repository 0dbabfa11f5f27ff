namespace RagTune.Engine.Kernels;

// Dimension legend
//   H   heads in the vector
//   hd  head dimension (even); i rotation pair index, 0 <= i < hd/2

/// <summary>Table-driven rotary embedding for training, where every row of a batch needs a rotation.</summary>
internal static partial class Rope
{
    /// <summary>
    /// cos/sin of pos · invFreq[i] for positions 0..T-1, angles formed in float as <see cref="Apply"/> forms them, so
    /// <see cref="ApplyTable"/> rotates exactly like <see cref="Apply"/> without a sin/cos per element.
    /// </summary>
    public static void Table(Span<float> cos /*[T, hd/2]*/, Span<float> sin /*[T, hd/2]*/, int t, ReadOnlySpan<float> invFreq /*[hd/2]*/)
    {
        int half = invFreq.Length;
        if (cos.Length < (long)t * half || sin.Length < (long)t * half)
            throw new ArgumentException($"RoPE tables need [T={t}, hd/2={half}] floats; got cos {cos.Length}, sin {sin.Length}.");
        for (int p = 0; p < t; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * invFreq[i];
                cos[p * half + i] = MathF.Cos(angle);
                sin[p * half + i] = MathF.Sin(angle);
            }
    }

    /// <summary>
    /// Rotates every head of <paramref name="x"/> in place by the angles of one table row (<see cref="Table"/>);
    /// <paramref name="inverse"/> rotates by −θ, the backward pass (<see cref="Backward"/>).
    /// </summary>
    public static void ApplyTable(Span<float> x /*[H, hd]*/, int nHeads, int headDim, ReadOnlySpan<float> cos /*[hd/2]*/, ReadOnlySpan<float> sin /*[hd/2]*/,
        RopeMode mode, bool inverse)
    {
        Check(x.Length, nHeads, headDim, Math.Min(cos.Length, sin.Length));
        int half = headDim / 2;
        for (int h = 0; h < nHeads; h++)
        {
            var head = x.Slice(h * headDim, headDim);
            for (int i = 0; i < half; i++)
            {
                float c = cos[i], s = inverse ? -sin[i] : sin[i];
                int a = mode == RopeMode.Normal ? 2 * i : i;
                int b = mode == RopeMode.Normal ? 2 * i + 1 : i + half;
                float x0 = head[a], x1 = head[b];
                head[a] = x0 * c - x1 * s;
                head[b] = x0 * s + x1 * c;
            }
        }
    }
}
