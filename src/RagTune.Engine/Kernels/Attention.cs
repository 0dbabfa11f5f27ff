using System.Numerics.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   H    query heads (nHeads)
//   Hkv  key/value heads (nKvHeads); H is a multiple of Hkv (grouped-query attention, Ainslie et al. 2023)
//   hd   head dimension
//   P    cache positions attended to (nPos)
//   T    query tokens in a batch; token i sits at position startPos + i
//   ctx  cache capacity in positions

/// <summary>Causal scaled dot-product attention over a float KV cache (llama2.c's attention loop, with GQA).</summary>
internal static unsafe partial class Attention
{
    [ThreadStatic] private static BatchJob? t_job;

    /// <summary>
    /// One query position attending to cache positions 0..nPos-1: for each head h (using kv head
    /// h / (H/Hkv)), softmax(q_h · k_p / sqrt(hd)) weights the values v_p.
    /// </summary>
    public static void Forward(Span<float> output /*[H, hd]*/, ReadOnlySpan<float> q /*[H, hd]*/, ReadOnlySpan<float> kCache /*[P, Hkv*hd]*/,
        ReadOnlySpan<float> vCache /*[P, Hkv*hd]*/, int nPos, int nHeads, int nKvHeads, int headDim, Span<float> scores /*[P]*/)
    {
        Check(output.Length, q.Length, kCache.Length, vCache.Length, nPos, nHeads, nKvHeads, headDim, scores.Length);
        fixed (float* po = output)
        fixed (float* pq = q)
        fixed (float* pk = kCache)
        fixed (float* pv = vCache)
        fixed (float* ps = scores)
        {
            for (int h = 0; h < nHeads; h++)
                Head(po + h * headDim, pq + h * headDim, pk, pv, nPos, h / (nHeads / nKvHeads), nKvHeads, headDim, ps);
        }
    }

    /// <summary>Scalar reference of <see cref="Forward"/>: plain loops, scores and sums in float, softmax reference.</summary>
    public static void ForwardReference(Span<float> output /*[H, hd]*/, ReadOnlySpan<float> q /*[H, hd]*/, ReadOnlySpan<float> kCache /*[P, Hkv*hd]*/,
        ReadOnlySpan<float> vCache /*[P, Hkv*hd]*/, int nPos, int nHeads, int nKvHeads, int headDim, Span<float> scores /*[P]*/)
    {
        Check(output.Length, q.Length, kCache.Length, vCache.Length, nPos, nHeads, nKvHeads, headDim, scores.Length);
        int kvDim = nKvHeads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        for (int h = 0; h < nHeads; h++)
        {
            int kvh = h / (nHeads / nKvHeads);
            var qh = q.Slice(h * headDim, headDim);
            for (int p = 0; p < nPos; p++)
            {
                var kp = kCache.Slice(p * kvDim + kvh * headDim, headDim);
                float dot = 0f;
                for (int i = 0; i < headDim; i++) dot += qh[i] * kp[i];
                scores[p] = dot * scale;
            }
            Softmax.ForwardReference(scores[..nPos]);
            var oh = output.Slice(h * headDim, headDim);
            oh.Clear();
            for (int p = 0; p < nPos; p++)
            {
                var vp = vCache.Slice(p * kvDim + kvh * headDim, headDim);
                for (int i = 0; i < headDim; i++) oh[i] += scores[p] * vp[i];
            }
        }
    }

    /// <summary>Floats of scratch <see cref="ForwardBatch"/> needs: one score row of <paramref name="ctx"/> per thread.</summary>
    public static long ScratchFloats(int threads, int ctx) => (long)threads * ctx;

    /// <summary>
    /// Causal attention for <paramref name="t"/> query tokens at positions startPos..startPos+t-1 against one layer's
    /// cache (already holding their keys and values), parallel over (head, token) pairs. Decode is t = 1.
    /// <paramref name="scratch"/> holds <see cref="ScratchFloats"/>(pool.Threads, ctx) floats, ctx >= startPos + t.
    /// </summary>
    public static void ForwardBatch(KernelThreadPool pool, float* output /*[T, H*hd]*/, float* q /*[T, H*hd]*/, float* kCache /*[ctx, Hkv*hd]*/,
        float* vCache /*[ctx, Hkv*hd]*/, int t, int startPos, int nHeads, int nKvHeads, int headDim, float* scratch /*[threads, ctx]*/)
    {
        if (t <= 0) return;
        if (nHeads <= 0 || nKvHeads <= 0 || nHeads % nKvHeads != 0)
            throw new ArgumentException($"Attention needs nHeads ({nHeads}) to be a positive multiple of nKvHeads ({nKvHeads}).");
        var job = t_job ??= new BatchJob();
        job.Set(output, q, kCache, vCache, t, startPos, nHeads, nKvHeads, headDim, scratch, startPos + t);
        try
        {
            // Head-major order: a thread's range covers whole heads for all tokens, which balances the causal
            // triangle (every head has the same cost) and reuses one kv head's rows across tokens.
            pool.For(t * nHeads, job);
        }
        finally
        {
            job.Clear();
        }
    }

    /// <summary>One head of one query: scores, softmax, weighted sum of values.</summary>
    private static void Head(float* o /*[hd]*/, float* q /*[hd]*/, float* k /*[P, Hkv*hd]*/, float* v /*[P, Hkv*hd]*/,
        int nPos, int kvh, int nKvHeads, int headDim, float* scores /*[P]*/)
    {
        int kvDim = nKvHeads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        var qh = new ReadOnlySpan<float>(q, headDim);
        float* kp = k + kvh * headDim;
        for (int p = 0; p < nPos; p++, kp += kvDim)
            scores[p] = TensorPrimitives.Dot(qh, new ReadOnlySpan<float>(kp, headDim)) * scale;
        Softmax.Forward(new Span<float>(scores, nPos));
        var oh = new Span<float>(o, headDim);
        oh.Clear();
        float* vp = v + kvh * headDim;
        for (int p = 0; p < nPos; p++, vp += kvDim)
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vp, headDim), scores[p], oh, oh);
    }

    private static void Check(int output, int q, int k, int v, int nPos, int nHeads, int nKvHeads, int headDim, int scores)
    {
        if (nHeads <= 0 || nKvHeads <= 0 || nHeads % nKvHeads != 0)
            throw new ArgumentException($"Attention needs nHeads ({nHeads}) to be a positive multiple of nKvHeads ({nKvHeads}).");
        long qDim = (long)nHeads * headDim, kvNeed = (long)nPos * nKvHeads * headDim;
        if (output < qDim || q < qDim) throw new ArgumentException($"q and output need nHeads*headDim = {qDim} floats; got q {q}, output {output}.");
        if (k < kvNeed || v < kvNeed) throw new ArgumentException($"The KV cache needs nPos*nKvHeads*headDim = {kvNeed} floats; got k {k}, v {v}.");
        if (scores < nPos) throw new ArgumentException($"scores needs nPos = {nPos} floats, got {scores}.", nameof(scores));
    }

    private sealed class BatchJob : IRangeJob
    {
        private float* _o, _q, _k, _v, _scratch;
        private int _t, _startPos, _nHeads, _nKvHeads, _headDim, _ctx, _slot;

        public void Set(float* o, float* q, float* k, float* v, int t, int startPos, int nHeads, int nKvHeads, int headDim, float* scratch, int ctx)
        {
            _o = o; _q = q; _k = k; _v = v; _scratch = scratch;
            _t = t; _startPos = startPos; _nHeads = nHeads; _nKvHeads = nKvHeads; _headDim = headDim; _ctx = ctx; _slot = 0;
        }

        public void Clear() { _o = _q = _k = _v = _scratch = null; }

        public void Execute(int start, int end)
        {
            // The pool runs exactly one chunk per thread, so a per-call counter hands each chunk its own score row.
            float* scores = _scratch + (long)(Interlocked.Increment(ref _slot) - 1) * _ctx;
            int qDim = _nHeads * _headDim, group = _nHeads / _nKvHeads;
            for (int idx = start; idx < end; idx++)
            {
                int h = idx / _t, tok = idx % _t;
                long off = (long)tok * qDim + h * _headDim;
                Head(_o + off, _q + off, _k, _v, _startPos + tok + 1, h / group, _nKvHeads, _headDim, scores);
            }
        }
    }
}
