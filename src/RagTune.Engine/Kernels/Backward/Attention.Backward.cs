using System.Numerics.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   B    sequences in the batch
//   T    tokens per sequence; token t of a sequence sits at position t and attends to positions 0..t
//   H    query heads, Hkv key/value heads (query head h uses kv head h / (H/Hkv))
//   hd   head dimension; Q = H·hd, K = Hkv·hd
//
// Training attention keeps the softmax probabilities [B, H, T, T] (row t holds positions 0..t, zeros after) for the
// backward pass, as llm.c's attention_forward does with its `att` buffer.

/// <summary>Causal grouped-query attention for training: forward that keeps probabilities, and its backward.</summary>
internal static unsafe partial class Attention
{
    /// <summary>
    /// out[b, t, h] = Σ_{s≤t} p[b, h, t, s] · v[b, s, kvh], p = softmax_s(q[b, t, h] · k[b, s, kvh] / sqrt(hd)).
    /// Writes <paramref name="probs"/> for <see cref="Backward"/>. Per (sequence, head) two products on the training
    /// GEMM (each parallel over query rows): scores = q·kᵀ over all T×T pairs (the masked half is computed and then
    /// overwritten: one blocked product beats T dots of growing length), then out = p·v.
    /// </summary>
    public static void ForwardTraining(KernelThreadPool pool, float* output /*[B, T, Q]*/, float* probs /*[B, H, T, T]*/, float* q /*[B, T, Q]*/,
        float* k /*[B, T, K]*/, float* v /*[B, T, K]*/, int b, int t, int nHeads, int nKvHeads, int headDim)
    {
        CheckHeads(nHeads, nKvHeads);
        int qd = nHeads * headDim, kd = nKvHeads * headDim, group = nHeads / nKvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < nHeads; h++)
            {
                float* p = probs + ((long)bi * nHeads + h) * t * t;                      // [T, T]
                float* qh = q + (long)bi * t * qd + h * headDim;                        // [T, hd], row stride Q
                float* kh = k + (long)bi * t * kd + h / group * headDim;                // [T, hd], row stride K
                float* vh = v + (long)bi * t * kd + h / group * headDim;
                MatMul.Gemm(pool, p, t, t, t, headDim, new(MatMul.F32View(qh, t, qd), transposed: false),
                    new(MatMul.F32View(kh, t, kd), transposed: true), scale, accumulate: false, splitRows: true, scratch: null);
                for (int tq = 0; tq < t; tq++)
                {
                    var row = new Span<float>(p + (long)tq * t, t);
                    Softmax.Forward(row[..(tq + 1)]);
                    row[(tq + 1)..].Clear();
                }
                MatMul.Gemm(pool, output + (long)bi * t * qd + h * headDim, qd, t, headDim, t, new(MatMul.F32View(p, t, t), transposed: false),
                    new(MatMul.F32View(vh, t, kd), transposed: false), 1f, accumulate: false, splitRows: true, scratch: null);
            }
    }

    /// <summary>Scalar reference of <see cref="ForwardTraining"/>: plain loops, softmax in double.</summary>
    public static void ForwardTrainingReference(float* output, float* probs, float* q, float* k, float* v, int b, int t, int nHeads, int nKvHeads, int headDim)
    {
        CheckHeads(nHeads, nKvHeads);
        int qd = nHeads * headDim, kd = nKvHeads * headDim, group = nHeads / nKvHeads;
        double scale = 1.0 / Math.Sqrt(headDim);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < nHeads; h++)
                for (int tq = 0; tq < t; tq++)
                {
                    float* p = probs + (((long)bi * nHeads + h) * t + tq) * t;
                    float* qh = q + ((long)bi * t + tq) * qd + h * headDim;
                    double max = double.NegativeInfinity;
                    var s = new double[tq + 1];
                    for (int ts = 0; ts <= tq; ts++)
                    {
                        float* kh = k + ((long)bi * t + ts) * kd + h / group * headDim;
                        double dot = 0;
                        for (int i = 0; i < headDim; i++) dot += (double)qh[i] * kh[i];
                        s[ts] = dot * scale;
                        max = Math.Max(max, s[ts]);
                    }
                    double sum = 0;
                    for (int ts = 0; ts <= tq; ts++) { s[ts] = Math.Exp(s[ts] - max); sum += s[ts]; }
                    for (int ts = 0; ts < t; ts++) p[ts] = ts <= tq ? (float)(s[ts] / sum) : 0f;
                    float* o = output + ((long)bi * t + tq) * qd + h * headDim;
                    for (int i = 0; i < headDim; i++)
                    {
                        double acc = 0;
                        for (int ts = 0; ts <= tq; ts++) acc += p[ts] * (double)v[((long)bi * t + ts) * kd + h / group * headDim + i];
                        o[i] = (float)acc;
                    }
                }
    }

    /// <summary>Floats of scratch <see cref="Backward"/> needs: the score gradients of one (sequence, head), [T, T].</summary>
    public static long BackwardScratchFloats(int t) => (long)t * t;

    /// <summary>
    /// Gradients of <see cref="ForwardTraining"/> (overwritten, not accumulated): with dp = dout·vᵀ and
    /// ds[t, s] = p[t, s] · (dp[t, s] − Σ_s p·dp), dq = ds·k / sqrt(hd), dk = Σ_heads dsᵀ·q / sqrt(hd), dv = Σ_heads pᵀ·dout
    /// (the heads of a kv group summed). Four products per (sequence, head) on the training GEMM, each parallel over its
    /// rows. <paramref name="scratch"/> holds <see cref="BackwardScratchFloats"/> floats.
    /// </summary>
    public static void Backward(KernelThreadPool pool, float* dq /*[B, T, Q]*/, float* dk /*[B, T, K]*/, float* dv /*[B, T, K]*/,
        float* dOutput /*[B, T, Q]*/, float* probs /*[B, H, T, T]*/, float* q, float* k, float* v,
        int b, int t, int nHeads, int nKvHeads, int headDim, float* scratch /*[T, T]*/)
    {
        CheckHeads(nHeads, nKvHeads);
        int qd = nHeads * headDim, kd = nKvHeads * headDim, group = nHeads / nKvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        float* ds = scratch;
        var dsView = MatMul.F32View(ds, t, t);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < nHeads; h++)
            {
                float* p = probs + ((long)bi * nHeads + h) * t * t;                      // [T, T]
                long qo = (long)bi * t * qd + h * headDim, ko = (long)bi * t * kd + h / group * headDim;
                var dOut = MatMul.F32View(dOutput + qo, t, qd);                          // [T, hd], row stride Q
                bool first = h % group == 0;                                            // the first head of its kv group overwrites dk, dv
                MatMul.Gemm(pool, ds, t, t, t, headDim, new(dOut, transposed: false), new(MatMul.F32View(v + ko, t, kd), transposed: true),
                    1f, accumulate: false, splitRows: true, scratch: null);
                for (int tq = 0; tq < t; tq++)
                {
                    var pr = new ReadOnlySpan<float>(p + (long)tq * t, tq + 1);
                    var dr = new Span<float>(ds + (long)tq * t, t);
                    float sum = TensorPrimitives.Dot(pr, dr[..(tq + 1)]);
                    TensorPrimitives.Subtract(dr[..(tq + 1)], sum, dr[..(tq + 1)]);
                    TensorPrimitives.Multiply(dr[..(tq + 1)], pr, dr[..(tq + 1)]);
                    dr[(tq + 1)..].Clear();
                }
                MatMul.Gemm(pool, dq + qo, qd, t, headDim, t, new(dsView, transposed: false), new(MatMul.F32View(k + ko, t, kd), transposed: false),
                    scale, accumulate: false, splitRows: true, scratch: null);
                MatMul.Gemm(pool, dk + ko, kd, t, headDim, t, new(dsView, transposed: true), new(MatMul.F32View(q + qo, t, qd), transposed: false),
                    scale, accumulate: !first, splitRows: true, scratch: null);
                MatMul.Gemm(pool, dv + ko, kd, t, headDim, t, new(MatMul.F32View(p, t, t), transposed: true), new(dOut, transposed: false),
                    1f, accumulate: !first, splitRows: true, scratch: null);
            }
    }

    /// <summary>Scalar reference of <see cref="Backward"/>, sums in double.</summary>
    public static void BackwardReference(float* dq, float* dk, float* dv, float* dOutput, float* probs, float* q, float* k, float* v,
        int b, int t, int nHeads, int nKvHeads, int headDim)
    {
        CheckHeads(nHeads, nKvHeads);
        int qd = nHeads * headDim, kd = nKvHeads * headDim, group = nHeads / nKvHeads;
        double scale = 1.0 / Math.Sqrt(headDim);
        new Span<float>(dq, b * t * qd).Clear();
        new Span<float>(dk, b * t * kd).Clear();
        new Span<float>(dv, b * t * kd).Clear();
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < nHeads; h++)
                for (int tq = 0; tq < t; tq++)
                {
                    float* p = probs + (((long)bi * nHeads + h) * t + tq) * t;
                    long qo = ((long)bi * t + tq) * qd + h * headDim;
                    var dp = new double[tq + 1];
                    double sum = 0;
                    for (int ts = 0; ts <= tq; ts++)
                    {
                        long ko = ((long)bi * t + ts) * kd + h / group * headDim;
                        double s = 0;
                        for (int i = 0; i < headDim; i++) s += (double)dOutput[qo + i] * v[ko + i];
                        dp[ts] = s;
                        sum += p[ts] * s;
                    }
                    for (int ts = 0; ts <= tq; ts++)
                    {
                        long ko = ((long)bi * t + ts) * kd + h / group * headDim;
                        double ds = p[ts] * (dp[ts] - sum);
                        for (int i = 0; i < headDim; i++)
                        {
                            dq[qo + i] += (float)(ds * scale * k[ko + i]);
                            dk[ko + i] += (float)(ds * scale * q[qo + i]);
                            dv[ko + i] += (float)(p[ts] * (double)dOutput[qo + i]);
                        }
                    }
                }
    }

    private static void CheckHeads(int nHeads, int nKvHeads)
    {
        if (nHeads <= 0 || nKvHeads <= 0 || nHeads % nKvHeads != 0)
            throw new ArgumentException($"Attention needs nHeads ({nHeads}) to be a positive multiple of nKvHeads ({nKvHeads}).");
    }
}
