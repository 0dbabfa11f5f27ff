using System.Numerics.Tensors;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   T  token rows in the batch
//   K  input features
//   N  output features
//   R  rank of the update
//
// The unmerged LoRA term of y = W·x + s·B·(A·x) (Hu et al. 2021, eq. 3), added to a y the base product already
// wrote. Two thin products: h = x·Aᵀ [T, R] (R dot products of length K per token), then y += h·(s·B)ᵀ. The second
// one reads (s·B)ᵀ stored transposed, [R, N], so each of the R rows is one contiguous multiply-add into y's row.
// Cost per token R·(K + N) against the base's N·K: a 2R/K fraction (under 3% at R = 8, K = 576).

/// <summary>Low-rank updates added beside a frozen weight of any type (LoRA at inference, without merging).</summary>
internal static unsafe partial class MatMul
{
    [ThreadStatic] private static LowRankJob? t_lowRank;

    /// <summary>
    /// y[t, n] += Σ_j h[t, j] · bt[j, n] with h = x·aᵀ. <paramref name="a"/> is F32 [R, K]; <paramref name="bt"/> is
    /// the scaled, transposed up projection [R, N]; <paramref name="hidden"/> is scratch of T·R floats. Parallel over
    /// output columns; allocates nothing after the first call on a thread.
    /// </summary>
    public static void AddLowRank(KernelThreadPool pool, float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView a /*[R, K]*/, float* bt /*[R, N]*/,
        int n, int t, float* hidden /*[T, R]*/)
    {
        Forward(pool, hidden, x, a, t, scratch: null);
        var job = t_lowRank ??= new LowRankJob();
        job.Set(y, hidden, bt, t, checked((int)a.Rows), n);
        try
        {
            pool.For(n, job, RowGrain);
        }
        finally
        {
            job.Clear();
        }
    }

    /// <summary>Scalar reference of <see cref="AddLowRank"/>.</summary>
    public static void AddLowRankReference(float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView a /*[R, K]*/, float* bt /*[R, N]*/, int n, int t)
    {
        int r = checked((int)a.Rows), k = a.Cols;
        var av = a.AsFloats();
        for (int tok = 0; tok < t; tok++)
            for (int o = 0; o < n; o++)
            {
                float sum = 0f;
                for (int j = 0; j < r; j++)
                {
                    float h = 0f;
                    for (int i = 0; i < k; i++) h += x[(long)tok * k + i] * av[j * k + i];
                    sum += h * bt[(long)j * n + o];
                }
                y[(long)tok * n + o] += sum;
            }
    }

    private sealed class LowRankJob : IRangeJob
    {
        private float* _y, _h, _bt;
        private int _t, _r, _n;

        public void Set(float* y, float* h, float* bt, int t, int r, int n) { _y = y; _h = h; _bt = bt; _t = t; _r = r; _n = n; }

        public void Clear() { _y = _h = _bt = null; }

        public void Execute(int start, int end)
        {
            int width = end - start;
            for (int tok = 0; tok < _t; tok++)
            {
                var yRow = new Span<float>(_y + (long)tok * _n + start, width);
                float* h = _h + (long)tok * _r;
                for (int j = 0; j < _r; j++)
                    if (h[j] != 0f) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_bt + (long)j * _n + start, width), h[j], yRow, yRow);
            }
        }
    }
}
