using System.Numerics;

namespace RagTune.Engine.Kernels;

// Dimension legend (encoders: sequences packed back to back, no padding)
//   T    packed tokens of every sequence in the batch
//   Hd   hidden width = heads × d; d = head width
//   L    tokens of the sequence a query token belongs to, starting at packed row s0

internal static unsafe partial class Attention
{
    /// <summary>
    /// Kᵀ for <see cref="BidirectionalHead"/>: kt[c, t] = k[t, c], so the keys of one head channel are contiguous and
    /// a query's scores against consecutive keys come out a vector at a time, with no horizontal sums.
    /// </summary>
    public static void TransposeKeys(float* kt /*[Hd, T]*/, float* k /*[T, Hd]*/, int t, int hidden)
    {
        // Blocks of 16 rows: each channel's 16 values land in one cache line instead of 16.
        const int block = 16;
        for (int r0 = 0; r0 < t; r0 += block)
        {
            int rows = Math.Min(block, t - r0);
            for (int c = 0; c < hidden; c++)
            {
                float* dst = kt + (long)c * t + r0;
                float* src = k + (long)r0 * hidden + c;
                for (int r = 0; r < rows; r++) dst[r] = src[(long)r * hidden];
            }
        }
    }

    /// <summary>
    /// One query token attending to every key of its own sequence (no causal mask, BERT), one head:
    /// o = softmax(q · kⱼ / √d over j in [s0, s0 + L)) · V. Keys come transposed (<see cref="TransposeKeys"/>).
    /// Before this kernel the encoder made two TensorPrimitives calls of d = 32 floats per key, which cost more in
    /// calls than in arithmetic: at 256 tokens attention took a large share of embedding time.
    /// </summary>
    /// <param name="output">[d] this head's slice of the token's output row.</param>
    /// <param name="q">[d] this head's slice of the token's query row.</param>
    /// <param name="kt">[Hd, T] all keys transposed; this head's channels are rows head·d … head·d + d − 1.</param>
    /// <param name="v">[T, Hd] values.</param>
    /// <param name="tokens">T, the row length of <paramref name="kt"/>.</param>
    /// <param name="hidden">Hd, the row length of <paramref name="v"/>.</param>
    /// <param name="head">Which head.</param>
    /// <param name="headDim">d.</param>
    /// <param name="s0">Packed row of the sequence's first token.</param>
    /// <param name="len">L, the sequence's tokens.</param>
    /// <param name="scores">[L] scratch.</param>
    public static void BidirectionalHead(float* output, float* q, float* kt, float* v, int tokens, int hidden, int head, int headDim,
        int s0, int len, Span<float> scores)
    {
        float scale = 1f / MathF.Sqrt(headDim);
        float* ktHead = kt + (long)head * headDim * tokens + s0;
        int w = Vector<float>.Count, j = 0;
        fixed (float* p = scores)
        {
            // scores[j..j+w) = Σ_c q[c] · Kᵀ[c, j..j+w): one broadcast and one FMA per channel for w keys.
            if (Vector.IsHardwareAccelerated)
            {
                for (; j + 2 * w <= len; j += 2 * w)
                {
                    Vector<float> a0 = Vector<float>.Zero, a1 = Vector<float>.Zero;
                    for (int c = 0; c < headDim; c++)
                    {
                        var qc = new Vector<float>(q[c]);
                        float* row = ktHead + (long)c * tokens + j;
                        a0 = Vector.FusedMultiplyAdd(qc, Vector.Load(row), a0);
                        a1 = Vector.FusedMultiplyAdd(qc, Vector.Load(row + w), a1);
                    }
                    Vector.Store(a0 * scale, p + j);
                    Vector.Store(a1 * scale, p + j + w);
                }
                for (; j + w <= len; j += w)
                {
                    Vector<float> a0 = Vector<float>.Zero;
                    for (int c = 0; c < headDim; c++)
                        a0 = Vector.FusedMultiplyAdd(new Vector<float>(q[c]), Vector.Load(ktHead + (long)c * tokens + j), a0);
                    Vector.Store(a0 * scale, p + j);
                }
            }
            for (; j < len; j++)
            {
                float dot = 0;
                for (int c = 0; c < headDim; c++) dot += q[c] * ktHead[(long)c * tokens + j];
                p[j] = dot * scale;
            }
            Softmax.Forward(scores[..len]);

            // o[c..c+w) = Σ_j p[j] · V[s0 + j, head·d + c..): one broadcast and one FMA per key for w channels.
            float* vHead = v + (long)s0 * hidden + head * headDim;
            int c0 = 0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; c0 + w <= headDim; c0 += w)
                {
                    Vector<float> acc = Vector<float>.Zero;
                    for (int k = 0; k < len; k++)
                        acc = Vector.FusedMultiplyAdd(new Vector<float>(p[k]), Vector.Load(vHead + (long)k * hidden + c0), acc);
                    Vector.Store(acc, output + c0);
                }
            }
            for (; c0 < headDim; c0++)
            {
                float acc = 0;
                for (int k = 0; k < len; k++) acc += p[k] * vHead[(long)k * hidden + c0];
                output[c0] = acc;
            }
        }
    }

    /// <summary>Scalar reference of <see cref="BidirectionalHead"/> over keys in their natural [T, Hd] layout.</summary>
    public static void BidirectionalHeadReference(Span<float> output /*[d]*/, ReadOnlySpan<float> q /*[d]*/, ReadOnlySpan<float> k /*[T, Hd]*/,
        ReadOnlySpan<float> v /*[T, Hd]*/, int hidden, int head, int headDim, int s0, int len)
    {
        float scale = 1f / MathF.Sqrt(headDim);
        var scores = new float[len];
        for (int j = 0; j < len; j++)
        {
            float dot = 0;
            for (int c = 0; c < headDim; c++) dot += q[c] * k[(s0 + j) * hidden + head * headDim + c];
            scores[j] = dot * scale;
        }
        Softmax.ForwardReference(scores);
        for (int c = 0; c < headDim; c++)
        {
            float acc = 0;
            for (int j = 0; j < len; j++) acc += scores[j] * v[(s0 + j) * hidden + head * headDim + c];
            output[c] = acc;
        }
    }
}
