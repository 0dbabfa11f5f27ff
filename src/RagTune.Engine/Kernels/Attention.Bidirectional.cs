using System.Numerics;
using System.Runtime.Intrinsics;

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
    public static void TransposeKeys(float* kt /*[Hd, T]*/, float* k /*[T, Hd]*/, int t, int hidden) => TransposeKeys(kt, k, t, hidden, 0, t);

    /// <summary>Rows [<paramref name="begin"/>, <paramref name="end"/>) of <see cref="TransposeKeys(float*, float*, int, int)"/>: disjoint
    /// row ranges write disjoint columns of kt, so threads can share the work.</summary>
    public static void TransposeKeys(float* kt /*[Hd, T]*/, float* k /*[T, Hd]*/, int t, int hidden, int begin, int end)
    {
        // Blocks of 16 rows: each channel's 16 values land in one cache line instead of 16.
        const int block = 16;
        for (int r0 = begin; r0 < end; r0 += block)
        {
            int rows = Math.Min(block, end - r0);
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
    /// o = softmax(q · kⱼ / √d over j in [s0, s0 + L)) · V. Keys come transposed (<see cref="TransposeKeys(float*, float*, int, int)"/>).
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

internal static unsafe partial class Attention
{
    /// <summary>Query rows one call of <see cref="BidirectionalBlock"/> takes at most.</summary>
    public const int BlockRows = 8;

    /// <summary>Floats per score row in <see cref="BidirectionalBlock"/>'s scratch: L rounded up to 16.</summary>
    public static int BlockScoreStride(int len) => (len + 15) & ~15;

    /// <summary>Whether <see cref="BidirectionalBlock"/> runs its AVX-512 register tile for this head width; otherwise it
    /// runs <see cref="BidirectionalHead"/> row by row.</summary>
    public static bool BlockTiled(int headDim) => Vector512.IsHardwareAccelerated && headDim % 16 == 0;

    /// <summary>
    /// <paramref name="rows"/> (≤ 8) consecutive query tokens of one sequence attending to every key of it, one head:
    /// per row the result of <see cref="BidirectionalHead"/>. Why a block: one query at a time runs one or two FMA
    /// chains and waits on their latency (at 128 tokens attention took 40 % of an embedding pass for 5 % of its
    /// arithmetic); eight queries share each key and value vector loaded and keep eight or sixteen independent chains
    /// in registers, an 8-row tile as in the SGEMM micro-kernel.
    /// </summary>
    /// <param name="output">[rows, Hd] row stride Hd: this head's slice of the first query token's output row.</param>
    /// <param name="q">[rows, Hd] row stride Hd: this head's slice of the first query token's query row.</param>
    /// <param name="kt">[Hd, T] all keys transposed (<see cref="TransposeKeys(float*, float*, int, int)"/>).</param>
    /// <param name="v">[T, Hd] values.</param>
    /// <param name="tokens">T.</param>
    /// <param name="hidden">Hd.</param>
    /// <param name="head">Which head.</param>
    /// <param name="headDim">d.</param>
    /// <param name="s0">Packed row of the sequence's first token.</param>
    /// <param name="len">L, the sequence's tokens.</param>
    /// <param name="rows">Query rows, 1 … 8.</param>
    /// <param name="scores">[8, BlockScoreStride(L)] scratch.</param>
    public static void BidirectionalBlock(float* output, float* q, float* kt, float* v, int tokens, int hidden, int head, int headDim,
        int s0, int len, int rows, Span<float> scores)
    {
        int stride = BlockScoreStride(len);
        if ((uint)(rows - 1) >= BlockRows) throw new ArgumentOutOfRangeException(nameof(rows), rows, "1 to 8 query rows.");
        if (scores.Length < BlockRows * stride) throw new ArgumentException($"scores holds {scores.Length} floats; {BlockRows * stride} needed.", nameof(scores));
        if (!BlockTiled(headDim))
        {
            for (int i = 0; i < rows; i++)
                BidirectionalHead(output + (long)i * hidden, q + (long)i * hidden, kt, v, tokens, hidden, head, headDim, s0, len, scores[..len]);
            return;
        }
        fixed (float* sc = scores)
        {
            BlockScores(sc, stride, q, rows, kt + (long)head * headDim * tokens + s0, tokens, hidden, headDim, len);
            for (int i = 0; i < rows; i++) Softmax.Forward(new Span<float>(sc + i * stride, len));
            BlockValues(output, rows, sc, stride, v + (long)s0 * hidden + head * headDim, hidden, headDim, len);
        }
    }

    // sc[i, j] = (q_i · k_j) / √d for the 8 query rows (rows past `rows` repeat the last one; their scores are never
    // read back into an output): per step of the head's channels, one key vector and eight broadcasts feed 8 FMAs.
    private static void BlockScores(float* sc /*[8, stride]*/, int stride, float* q /*[rows, Hd]*/, int rows, float* ktHead /*[d, T] from s0*/,
        int tokens, int hidden, int headDim, int len)
    {
        float scale = 1f / MathF.Sqrt(headDim);
        float* q0 = q, q1 = q + (long)Math.Min(1, rows - 1) * hidden, q2 = q + (long)Math.Min(2, rows - 1) * hidden,
            q3 = q + (long)Math.Min(3, rows - 1) * hidden, q4 = q + (long)Math.Min(4, rows - 1) * hidden,
            q5 = q + (long)Math.Min(5, rows - 1) * hidden, q6 = q + (long)Math.Min(6, rows - 1) * hidden,
            q7 = q + (long)Math.Min(7, rows - 1) * hidden;
        int j = 0;
        for (; j + 16 <= len; j += 16)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            float* kc = ktHead + j;
            for (int c = 0; c < headDim; c++, kc += tokens)
            {
                var k = Vector512.Load(kc);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Create(q0[c]), k, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Create(q1[c]), k, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Create(q2[c]), k, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Create(q3[c]), k, a3);
                a4 = Vector512.FusedMultiplyAdd(Vector512.Create(q4[c]), k, a4);
                a5 = Vector512.FusedMultiplyAdd(Vector512.Create(q5[c]), k, a5);
                a6 = Vector512.FusedMultiplyAdd(Vector512.Create(q6[c]), k, a6);
                a7 = Vector512.FusedMultiplyAdd(Vector512.Create(q7[c]), k, a7);
            }
            (a0 * scale).Store(sc + j); (a1 * scale).Store(sc + stride + j);
            (a2 * scale).Store(sc + 2 * stride + j); (a3 * scale).Store(sc + 3 * stride + j);
            (a4 * scale).Store(sc + 4 * stride + j); (a5 * scale).Store(sc + 5 * stride + j);
            (a6 * scale).Store(sc + 6 * stride + j); (a7 * scale).Store(sc + 7 * stride + j);
        }
        // The last L mod 16 keys one by one: a whole vector would read past the sequence (and past T at the end).
        for (; j < len; j++)
            for (int i = 0; i < rows; i++)
            {
                float* qi = q + (long)i * hidden, kc = ktHead + j;
                float dot = 0;
                for (int c = 0; c < headDim; c++) dot += qi[c] * kc[(long)c * tokens];
                sc[i * stride + j] = dot * scale;
            }
    }

    // o_i = Σ_j p[i, j] · v_j, 32 (or 16) channels at a time: per key two (one) value vectors and eight broadcasts feed
    // 16 (8) FMAs. The tile is stored whole to the stack and its first `rows` rows copied out.
    private static void BlockValues(float* output /*[rows, Hd]*/, int rows, float* sc /*[8, stride]*/, int stride, float* vHead /*[L, Hd] from s0*/,
        int hidden, int headDim, int len)
    {
        float* tile = stackalloc float[BlockRows * 32];
        for (int c0 = 0; c0 < headDim; c0 += 32)
        {
            int width = Math.Min(32, headDim - c0);   // 32 or 16: headDim is a multiple of 16
            Vector512<float> o00 = default, o10 = default, o20 = default, o30 = default, o40 = default, o50 = default, o60 = default, o70 = default;
            Vector512<float> o01 = default, o11 = default, o21 = default, o31 = default, o41 = default, o51 = default, o61 = default, o71 = default;
            float* vk = vHead + c0;
            if (width == 32)
            {
                for (int k = 0; k < len; k++, vk += hidden)
                {
                    var v0 = Vector512.Load(vk);
                    var v1 = Vector512.Load(vk + 16);
                    var p = Vector512.Create(sc[k]); o00 = Vector512.FusedMultiplyAdd(p, v0, o00); o01 = Vector512.FusedMultiplyAdd(p, v1, o01);
                    p = Vector512.Create(sc[stride + k]); o10 = Vector512.FusedMultiplyAdd(p, v0, o10); o11 = Vector512.FusedMultiplyAdd(p, v1, o11);
                    p = Vector512.Create(sc[2 * stride + k]); o20 = Vector512.FusedMultiplyAdd(p, v0, o20); o21 = Vector512.FusedMultiplyAdd(p, v1, o21);
                    p = Vector512.Create(sc[3 * stride + k]); o30 = Vector512.FusedMultiplyAdd(p, v0, o30); o31 = Vector512.FusedMultiplyAdd(p, v1, o31);
                    p = Vector512.Create(sc[4 * stride + k]); o40 = Vector512.FusedMultiplyAdd(p, v0, o40); o41 = Vector512.FusedMultiplyAdd(p, v1, o41);
                    p = Vector512.Create(sc[5 * stride + k]); o50 = Vector512.FusedMultiplyAdd(p, v0, o50); o51 = Vector512.FusedMultiplyAdd(p, v1, o51);
                    p = Vector512.Create(sc[6 * stride + k]); o60 = Vector512.FusedMultiplyAdd(p, v0, o60); o61 = Vector512.FusedMultiplyAdd(p, v1, o61);
                    p = Vector512.Create(sc[7 * stride + k]); o70 = Vector512.FusedMultiplyAdd(p, v0, o70); o71 = Vector512.FusedMultiplyAdd(p, v1, o71);
                }
            }
            else
            {
                for (int k = 0; k < len; k++, vk += hidden)
                {
                    var v0 = Vector512.Load(vk);
                    o00 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[k]), v0, o00);
                    o10 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[stride + k]), v0, o10);
                    o20 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[2 * stride + k]), v0, o20);
                    o30 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[3 * stride + k]), v0, o30);
                    o40 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[4 * stride + k]), v0, o40);
                    o50 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[5 * stride + k]), v0, o50);
                    o60 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[6 * stride + k]), v0, o60);
                    o70 = Vector512.FusedMultiplyAdd(Vector512.Create(sc[7 * stride + k]), v0, o70);
                }
            }
            o00.Store(tile); o01.Store(tile + 16); o10.Store(tile + 32); o11.Store(tile + 48);
            o20.Store(tile + 64); o21.Store(tile + 80); o30.Store(tile + 96); o31.Store(tile + 112);
            o40.Store(tile + 128); o41.Store(tile + 144); o50.Store(tile + 160); o51.Store(tile + 176);
            o60.Store(tile + 192); o61.Store(tile + 208); o70.Store(tile + 224); o71.Store(tile + 240);
            for (int i = 0; i < rows; i++)
                new ReadOnlySpan<float>(tile + i * 32, width).CopyTo(new Span<float>(output + (long)i * hidden + c0, width));
        }
    }
}
