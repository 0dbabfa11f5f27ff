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
    [ThreadStatic] private static TrainForwardJob? t_trainForward;
    [ThreadStatic] private static TrainBackwardJob? t_trainBackward;

    /// <summary>
    /// out[b, t, h] = Σ_{s≤t} p[b, h, t, s] · v[b, s, kvh], p = softmax_s(q[b, t, h] · k[b, s, kvh] / sqrt(hd)).
    /// Parallel over (sequence, head, query) rows. Writes <paramref name="probs"/> for <see cref="Backward"/>.
    /// </summary>
    public static void ForwardTraining(KernelThreadPool pool, float* output /*[B, T, Q]*/, float* probs /*[B, H, T, T]*/, float* q /*[B, T, Q]*/,
        float* k /*[B, T, K]*/, float* v /*[B, T, K]*/, int b, int t, int nHeads, int nKvHeads, int headDim)
    {
        CheckHeads(nHeads, nKvHeads);
        var job = t_trainForward ??= new TrainForwardJob();
        job.Set(output, probs, q, k, v, t, nHeads, nKvHeads, headDim);
        try { pool.For(b * nHeads * t, job); }
        finally { job.Clear(); }
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

    /// <summary>Floats of scratch <see cref="Backward"/> needs: one row of T per thread.</summary>
    public static long BackwardScratchFloats(int threads, int t) => (long)threads * t;

    /// <summary>
    /// Gradients of <see cref="ForwardTraining"/> (overwritten, not accumulated): with dp[s] = dout_t · v_s and
    /// ds[s] = p[s] · (dp[s] − Σ p·dp), dq_t = Σ_s ds[s] · k_s / sqrt(hd), dk_s += ds[s] · q_t / sqrt(hd), dv_s += p[s] · dout_t.
    /// Parallel over (sequence, kv head) pairs: one pair owns its dk/dv slice and the dq of its query group, so no two
    /// threads write the same float. <paramref name="scratch"/> holds <see cref="BackwardScratchFloats"/> floats.
    /// </summary>
    public static void Backward(KernelThreadPool pool, float* dq /*[B, T, Q]*/, float* dk /*[B, T, K]*/, float* dv /*[B, T, K]*/,
        float* dOutput /*[B, T, Q]*/, float* probs /*[B, H, T, T]*/, float* q, float* k, float* v,
        int b, int t, int nHeads, int nKvHeads, int headDim, float* scratch /*[threads, T]*/)
    {
        CheckHeads(nHeads, nKvHeads);
        var job = t_trainBackward ??= new TrainBackwardJob();
        job.Set(dq, dk, dv, dOutput, probs, q, k, v, t, nHeads, nKvHeads, headDim, scratch);
        try { pool.For(b * nKvHeads, job); }
        finally { job.Clear(); }
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

    private sealed class TrainForwardJob : IRangeJob
    {
        private float* _o, _p, _q, _k, _v;
        private int _t, _h, _hkv, _hd;

        public void Set(float* o, float* p, float* q, float* k, float* v, int t, int h, int hkv, int hd)
        {
            _o = o; _p = p; _q = q; _k = k; _v = v; _t = t; _h = h; _hkv = hkv; _hd = hd;
        }

        public void Clear() { _o = _p = _q = _k = _v = null; }

        public void Execute(int start, int end)
        {
            int qd = _h * _hd, kd = _hkv * _hd, group = _h / _hkv;
            float scale = 1f / MathF.Sqrt(_hd);
            for (int idx = start; idx < end; idx++)
            {
                int tq = idx % _t, bh = idx / _t, h = bh % _h, bi = bh / _h;
                var p = new Span<float>(_p + (long)idx * _t, _t);
                var qh = new ReadOnlySpan<float>(_q + ((long)bi * _t + tq) * qd + h * _hd, _hd);
                float* kb = _k + (long)bi * _t * kd + h / group * _hd;
                float* vb = _v + (long)bi * _t * kd + h / group * _hd;
                for (int ts = 0; ts <= tq; ts++)
                    p[ts] = TensorPrimitives.Dot(qh, new ReadOnlySpan<float>(kb + (long)ts * kd, _hd)) * scale;
                p[(tq + 1)..].Clear();
                Softmax.Forward(p[..(tq + 1)]);
                var o = new Span<float>(_o + ((long)bi * _t + tq) * qd + h * _hd, _hd);
                o.Clear();
                for (int ts = 0; ts <= tq; ts++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vb + (long)ts * kd, _hd), p[ts], o, o);
            }
        }
    }

    private sealed class TrainBackwardJob : IRangeJob
    {
        private float* _dq, _dk, _dv, _do, _p, _q, _k, _v, _scratch;
        private int _t, _h, _hkv, _hd, _slot;

        public void Set(float* dq, float* dk, float* dv, float* dOut, float* p, float* q, float* k, float* v, int t, int h, int hkv, int hd, float* scratch)
        {
            _dq = dq; _dk = dk; _dv = dv; _do = dOut; _p = p; _q = q; _k = k; _v = v; _t = t; _h = h; _hkv = hkv; _hd = hd; _scratch = scratch; _slot = 0;
        }

        public void Clear() { _dq = _dk = _dv = _do = _p = _q = _k = _v = _scratch = null; }

        public void Execute(int start, int end)
        {
            float* dp = _scratch + (long)(Interlocked.Increment(ref _slot) - 1) * _t;
            int qd = _h * _hd, kd = _hkv * _hd, group = _h / _hkv;
            float scale = 1f / MathF.Sqrt(_hd);
            for (int idx = start; idx < end; idx++)
            {
                int bi = idx / _hkv, kvh = idx % _hkv;
                long kvBase = (long)bi * _t * kd + kvh * _hd;
                for (int ts = 0; ts < _t; ts++)
                {
                    new Span<float>(_dk + kvBase + (long)ts * kd, _hd).Clear();
                    new Span<float>(_dv + kvBase + (long)ts * kd, _hd).Clear();
                }
                for (int h = kvh * group; h < (kvh + 1) * group; h++)
                {
                    for (int tq = 0; tq < _t; tq++)
                    {
                        long qo = ((long)bi * _t + tq) * qd + h * _hd;
                        var dOut = new ReadOnlySpan<float>(_do + qo, _hd);
                        var qh = new ReadOnlySpan<float>(_q + qo, _hd);
                        var dqh = new Span<float>(_dq + qo, _hd);
                        dqh.Clear();
                        float* p = _p + (((long)bi * _h + h) * _t + tq) * _t;
                        float sum = 0f;
                        for (int ts = 0; ts <= tq; ts++)
                        {
                            dp[ts] = TensorPrimitives.Dot(dOut, new ReadOnlySpan<float>(_v + kvBase + (long)ts * kd, _hd));
                            sum += p[ts] * dp[ts];
                        }
                        for (int ts = 0; ts <= tq; ts++)
                        {
                            long ko = kvBase + (long)ts * kd;
                            float ds = p[ts] * (dp[ts] - sum) * scale;
                            var dkh = new Span<float>(_dk + ko, _hd);
                            var dvh = new Span<float>(_dv + ko, _hd);
                            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_k + ko, _hd), ds, dqh, dqh);
                            TensorPrimitives.MultiplyAdd(qh, ds, dkh, dkh);
                            TensorPrimitives.MultiplyAdd(dOut, p[ts], dvh, dvh);
                        }
                    }
                }
            }
        }
    }
}
