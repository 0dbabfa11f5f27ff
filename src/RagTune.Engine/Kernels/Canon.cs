using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   T  rows (positions) of one sequence
//   D  features per row (model dim)
//   K  kernel size (lags 0 … K-1)

/// <summary>
/// The canon layer (Allen-Zhu 2025, "Physics of Language Models: Part 4.1"; close to Olsson et al. 2022's smeared
/// keys): a causal depthwise convolution with a residual, y[t] = x[t] + Σ_{j&lt;K, j≤t} w[j] ⊙ x[t−j], applied to the
/// attention input. It hands each position its few predecessors without an attention head learning to, so a small
/// model finds "the value after this key" in one hop instead of after an induction-head phase change. Zero weights are
/// the identity. Rows before the sequence start count as zero (each training sequence starts at position 0; at
/// inference the rows are the session's cached normed inputs).
/// </summary>
internal static partial class Canon
{
    /// <summary>
    /// y[i] = x[start+i] + Σ_j w[j] ⊙ x[start+i−j] for i in [0, n): <paramref name="x"/> holds the rows 0 … start+n−1,
    /// so rows before <paramref name="start"/> are history. <paramref name="y"/> must not alias <paramref name="x"/>.
    /// </summary>
    public static void Forward(Span<float> y /*[n, D]*/, ReadOnlySpan<float> x /*[start+n, D]*/, int start, int n, ReadOnlySpan<float> w /*[K, D]*/, int d)
    {
        int k = Check(y.Length, x.Length, start, n, w.Length, d);
        for (int i = 0; i < n; i++)
        {
            int t = start + i;
            var yi = y.Slice(i * d, d);
            x.Slice(t * d, d).CopyTo(yi);
            for (int j = 0; j < k && j <= t; j++)
                TensorPrimitives.MultiplyAdd(w.Slice(j * d, d), x.Slice((t - j) * d, d), yi, yi);
        }
    }

    /// <summary>Scalar reference of <see cref="Forward"/>, accumulated in double.</summary>
    public static void ForwardReference(Span<float> y, ReadOnlySpan<float> x, int start, int n, ReadOnlySpan<float> w, int d)
    {
        int k = Check(y.Length, x.Length, start, n, w.Length, d);
        for (int i = 0; i < n; i++)
        {
            int t = start + i;
            for (int c = 0; c < d; c++)
            {
                double s = x[t * d + c];
                for (int j = 0; j < k && j <= t; j++) s += (double)w[j * d + c] * x[(t - j) * d + c];
                y[i * d + c] = (float)s;
            }
        }
    }

    /// <summary>
    /// Backward of <see cref="Forward"/> over one whole sequence (start 0, T rows): dx[t] += dy[t] + Σ_j w[j] ⊙ dy[t+j]
    /// (t+j &lt; T) and, when <paramref name="dw"/> is not empty, dw[j] += Σ_t dy[t] ⊙ x[t−j]. Both ACCUMULATE.
    /// </summary>
    public static void Backward(Span<float> dx /*[T, D]*/, Span<float> dw /*[K, D] or empty*/, ReadOnlySpan<float> dy /*[T, D]*/,
        ReadOnlySpan<float> x /*[T, D]*/, ReadOnlySpan<float> w /*[K, D]*/, int t, int d)
    {
        int k = CheckBackward(dx.Length, dw.Length, dy.Length, x.Length, w.Length, t, d);
        for (int r = 0; r < t; r++)
        {
            var dxr = dx.Slice(r * d, d);
            TensorPrimitives.Add(dxr, dy.Slice(r * d, d), dxr);
            for (int j = 0; j < k && r + j < t; j++)
                TensorPrimitives.MultiplyAdd(w.Slice(j * d, d), dy.Slice((r + j) * d, d), dxr, dxr);
        }
        if (dw.IsEmpty) return;
        for (int j = 0; j < k; j++)
        {
            var dwj = dw.Slice(j * d, d);
            for (int r = j; r < t; r++)
                TensorPrimitives.MultiplyAdd(dy.Slice(r * d, d), x.Slice((r - j) * d, d), dwj, dwj);
        }
    }

    /// <summary>Scalar reference of <see cref="Backward"/>, accumulated in double.</summary>
    public static void BackwardReference(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int t, int d)
    {
        int k = CheckBackward(dx.Length, dw.Length, dy.Length, x.Length, w.Length, t, d);
        for (int r = 0; r < t; r++)
            for (int c = 0; c < d; c++)
            {
                double s = dy[r * d + c];
                for (int j = 0; j < k && r + j < t; j++) s += (double)w[j * d + c] * dy[(r + j) * d + c];
                dx[r * d + c] += (float)s;
            }
        if (dw.IsEmpty) return;
        for (int j = 0; j < k; j++)
            for (int c = 0; c < d; c++)
            {
                double s = 0;
                for (int r = j; r < t; r++) s += (double)dy[r * d + c] * x[(r - j) * d + c];
                dw[j * d + c] += (float)s;
            }
    }

    private static int Check(int y, int x, int start, int n, int w, int d)
    {
        if (d <= 0 || w % d != 0 || w == 0 || start < 0 || n < 0 || x < (long)(start + n) * d || y < (long)n * d)
            throw new ArgumentException($"Canon.Forward shapes: y {y}, x {x} floats for start {start} + n {n} rows of D={d}, w {w} (must be K·D).");
        return w / d;
    }

    private static int CheckBackward(int dx, int dw, int dy, int x, int w, int t, int d)
    {
        if (d <= 0 || w % d != 0 || w == 0 || t < 0 || dx < (long)t * d || dy < (long)t * d || x < (long)t * d || (dw != 0 && dw != w))
            throw new ArgumentException($"Canon.Backward shapes: dx {dx}, dw {dw}, dy {dy}, x {x} floats for T={t} rows of D={d}, w {w} (must be K·D).");
        return w / d;
    }
}
