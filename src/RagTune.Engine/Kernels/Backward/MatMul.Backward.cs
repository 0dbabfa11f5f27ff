using System.Numerics.Tensors;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   T  token rows in the batch (B·T during training)
//   K  input features = w.Cols
//   N  output features = w.Rows
//
// Training-time products. The forward pass of a frozen weight y = x·wᵀ keeps activations in F32 (inference's
// MatMul.Forward quantizes them to Q8_0 for Q8_0/Q4_0 weights, which would bias the gradients); the input gradient
// dx = dy·w needs the transposed product with the frozen weight. Both expand a few weight rows at a time into a small
// per-thread buffer (TrainTile rows, never the whole tensor), the QLoRA recipe: weights stay quantized in memory.

/// <summary>Training products: F32-activation forward and the two backward products (dx for frozen weights, dW for F32 ones).</summary>
internal static unsafe partial class MatMul
{
    // Weight rows expanded together into one thread's buffer (32·K floats: 72 KB for K = 576, in L2). In BackwardInput
    // each token's dx row stays in L1 while all rows of the tile are added to it, so dx is streamed M/32 times, not M.
    private const int TrainTile = 32;

    [ThreadStatic] private static DequantForwardJob? t_dqForward;
    [ThreadStatic] private static BackwardInputJob? t_bwInput;
    [ThreadStatic] private static BackwardWeightJob? t_bwWeight;

    /// <summary>Floats of scratch <see cref="ForwardDequantized"/> and <see cref="BackwardInput"/> need: a tile of expanded rows per thread.</summary>
    public static long TrainingScratchFloats(int threads, int k) => (long)threads * TrainTile * k;

    /// <summary>
    /// y[t, n] = Σ_k x[t, k] · w[n, k] with F32 activations for every weight type: F32/F16/BF16 go through
    /// <see cref="Forward"/> (exact weight conversion, no activation rounding); Q8_0/Q4_0 rows are dequantized
    /// TrainTile rows at a time into <paramref name="scratch"/> (<see cref="TrainingScratchFloats"/> floats) and dotted in F32.
    /// </summary>
    public static void ForwardDequantized(KernelThreadPool pool, float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView w /*[N, K]*/, int t, float* scratch)
    {
        if (w.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
        {
            Forward(pool, y, x, w, t, null);
            return;
        }
        var job = t_dqForward ??= new DequantForwardJob();
        job.Set(y, x, w, t, scratch);
        try { pool.For(checked((int)w.Rows), job, RowGrain); }
        finally { job.Clear(); }
    }

    /// <summary>Scalar reference of <see cref="ForwardDequantized"/>: dequantize each row, dot in double.</summary>
    public static void ForwardDequantizedReference(float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView w /*[N, K]*/, int t)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        var row = new float[k];
        for (int r = 0; r < n; r++)
        {
            Quant.DequantizeRow(w.Type, w.Row(r), row);
            for (int tok = 0; tok < t; tok++)
            {
                double s = 0;
                for (int i = 0; i < k; i++) s += (double)row[i] * x[(long)tok * k + i];
                y[(long)tok * n + r] = (float)s;
            }
        }
    }

    /// <summary>
    /// dx[t, k] += Σ_n dy[t, n] · w[n, k]: the input gradient through a frozen weight of any supported type, parallel
    /// over token rows. Rows of w are expanded TrainTile rows at a time into <paramref name="scratch"/> (<see cref="TrainingScratchFloats"/> floats).
    /// </summary>
    public static void BackwardInput(KernelThreadPool pool, float* dx /*[T, K]*/, float* dy /*[T, N]*/, in TensorView w /*[N, K]*/, int t, float* scratch)
    {
        var job = t_bwInput ??= new BackwardInputJob();
        job.Set(dx, dy, w, scratch);
        try { pool.For(t, job); }
        finally { job.Clear(); }
    }

    /// <summary>Scalar reference of <see cref="BackwardInput"/>, sums in double.</summary>
    public static void BackwardInputReference(float* dx /*[T, K]*/, float* dy /*[T, N]*/, in TensorView w /*[N, K]*/, int t)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        var wf = new float[(long)n * k];
        for (int r = 0; r < n; r++) Quant.DequantizeRow(w.Type, w.Row(r), wf.AsSpan(r * k, k));
        for (int tok = 0; tok < t; tok++)
            for (int i = 0; i < k; i++)
            {
                double s = 0;
                for (int r = 0; r < n; r++) s += (double)dy[(long)tok * n + r] * wf[(long)r * k + i];
                dx[(long)tok * k + i] += (float)s;
            }
    }

    /// <summary>
    /// dw[n, k] += scale · Σ_t dy[t, n] · x[t, k]: the gradient of an F32 weight (a LoRA factor), parallel over rows of dw.
    /// </summary>
    public static void BackwardWeight(KernelThreadPool pool, float* dw /*[N, K]*/, float* dy /*[T, N]*/, float* x /*[T, K]*/, int t, int n, int k, float scale)
    {
        var job = t_bwWeight ??= new BackwardWeightJob();
        job.Set(dw, dy, x, t, n, k, scale);
        try { pool.For(n, job); }
        finally { job.Clear(); }
    }

    /// <summary>Scalar reference of <see cref="BackwardWeight"/>, sums in double.</summary>
    public static void BackwardWeightReference(float* dw /*[N, K]*/, float* dy /*[T, N]*/, float* x /*[T, K]*/, int t, int n, int k, float scale)
    {
        for (int r = 0; r < n; r++)
            for (int i = 0; i < k; i++)
            {
                double s = 0;
                for (int tok = 0; tok < t; tok++) s += (double)dy[(long)tok * n + r] * x[(long)tok * k + i];
                dw[(long)r * k + i] += (float)(scale * s);
            }
    }

    /// <summary>Expands rows [r0, r1) of <paramref name="w"/> into <paramref name="dst"/> [r1 − r0, K], or points at them when already F32.</summary>
    private static float* ExpandRows(in TensorView w, int r0, int r1, float* dst)
    {
        if (w.Type == GgmlType.F32) return (float*)(w.Data + r0 * w.RowBytes);
        int k = w.Cols;
        for (int r = r0; r < r1; r++)
            Quant.DequantizeRow(w.Type, w.Row(r), new Span<float>(dst + (long)(r - r0) * k, k));
        return dst;
    }

    private sealed class DequantForwardJob : IRangeJob
    {
        private float* _y, _x, _scratch;
        private TensorView _w;
        private int _t, _slot;

        public void Set(float* y, float* x, in TensorView w, int t, float* scratch) { _y = y; _x = x; _w = w; _t = t; _scratch = scratch; _slot = 0; }

        public void Clear() { _y = _x = _scratch = null; _w = default; }

        public void Execute(int start, int end)
        {
            int k = _w.Cols, n = checked((int)_w.Rows);
            float* buf = _scratch + (long)(Interlocked.Increment(ref _slot) - 1) * TrainTile * k;
            for (int r0 = start; r0 < end; r0 += TrainTile)
            {
                int r1 = Math.Min(end, r0 + TrainTile);
                float* rows = ExpandRows(_w, r0, r1, buf);
                for (int tok = 0; tok < _t; tok++)
                {
                    var xr = new ReadOnlySpan<float>(_x + (long)tok * k, k);
                    float* yr = _y + (long)tok * n;
                    for (int r = r0; r < r1; r++)
                        yr[r] = TensorPrimitives.Dot(new ReadOnlySpan<float>(rows + (long)(r - r0) * k, k), xr);
                }
            }
        }
    }

    private sealed class BackwardInputJob : IRangeJob
    {
        private float* _dx, _dy, _scratch;
        private TensorView _w;
        private int _slot;

        public void Set(float* dx, float* dy, in TensorView w, float* scratch) { _dx = dx; _dy = dy; _w = w; _scratch = scratch; _slot = 0; }

        public void Clear() { _dx = _dy = _scratch = null; _w = default; }

        public void Execute(int start, int end)
        {
            int k = _w.Cols, n = checked((int)_w.Rows);
            float* buf = _w.Type == GgmlType.F32 ? null : _scratch + (long)(Interlocked.Increment(ref _slot) - 1) * TrainTile * k;
            for (int r0 = 0; r0 < n; r0 += TrainTile)
            {
                int r1 = Math.Min(n, r0 + TrainTile);
                float* rows = ExpandRows(_w, r0, r1, buf);
                for (int tok = start; tok < end; tok++)
                {
                    var dxr = new Span<float>(_dx + (long)tok * k, k);
                    float* dyr = _dy + (long)tok * n;
                    for (int r = r0; r < r1; r++)
                    {
                        float g = dyr[r];
                        if (g != 0f) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(rows + (long)(r - r0) * k, k), g, dxr, dxr);
                    }
                }
            }
        }
    }

    private sealed class BackwardWeightJob : IRangeJob
    {
        private float* _dw, _dy, _x;
        private int _t, _n, _k;
        private float _scale;

        public void Set(float* dw, float* dy, float* x, int t, int n, int k, float scale) { _dw = dw; _dy = dy; _x = x; _t = t; _n = n; _k = k; _scale = scale; }

        public void Clear() { _dw = _dy = _x = null; }

        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                var dwr = new Span<float>(_dw + (long)r * _k, _k);
                for (int tok = 0; tok < _t; tok++)
                {
                    float g = _dy[(long)tok * _n + r] * _scale;
                    if (g != 0f) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_x + (long)tok * _k, _k), g, dwr, dwr);
                }
            }
        }
    }
}
