using RagTune.Engine.Kernels;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

/// <summary>The canon layer (causal depthwise convolution with a residual) against its scalar references.</summary>
public sealed class CanonTests
{
    [Fact]
    public void Forward_matches_the_reference_for_every_width_kernel_and_start()
    {
        var rng = new Random(41);
        foreach (int d in Enumerable.Range(1, 257).Where(d => d <= 40 || d % 7 == 0 || d is 64 or 128 or 256 or 257))
            foreach (var (k, start, n) in new[] { (1, 0, 3), (4, 0, 9), (4, 5, 3), (3, 2, 1), (6, 0, 2) })
            {
                var x = Floats(rng, (start + n) * d, 2f);
                var w = Floats(rng, k * d, 0.5f);
                var fast = new float[n * d];
                var reference = new float[n * d];
                Canon.Forward(fast, x, start, n, w, d);
                Canon.ForwardReference(reference, x, start, n, w, d);
                AllClose(reference, fast, 1e-6, 1e-5, $"canon forward d {d} k {k} start {start}");
            }
    }

    [Fact]
    public void Zero_weights_are_the_identity_and_history_counts()
    {
        float[] x = [1, 2, 3, 4, 5, 6]; // 3 rows of D = 2
        var y = new float[4];
        Canon.Forward(y, x, 1, 2, new float[2 * 2], 2);
        Assert.Equal([3f, 4f, 5f, 6f], y);
        // w[0] = 1 doubles the row itself; w[1] = 0.5 adds half the previous row (row 0 is history here).
        Canon.Forward(y, x, 1, 2, [1, 1, 0.5f, 0.5f], 2);
        Assert.Equal([3 + 3 + 0.5f, 4 + 4 + 1, 5 + 5 + 1.5f, 6 + 6 + 2], y);
        // At the first row there is nothing before it.
        var first = new float[2];
        Canon.Forward(first, x, 0, 1, [0, 0, 9, 9], 2);
        Assert.Equal([1f, 2f], first);
    }

    [Fact]
    public void Backward_matches_the_reference_and_finite_differences()
    {
        var rng = new Random(43);
        foreach (int d in new[] { 1, 3, 8, 17, 33, 64, 100, 257 })
            foreach (var (k, t) in new[] { (1, 1), (4, 9), (4, 2), (5, 12) })
            {
                var x = Floats(rng, t * d);
                var w = Floats(rng, k * d, 0.5f);
                var dy = Floats(rng, t * d);
                var dx = Floats(rng, t * d); // accumulates onto what is there
                var dw = Floats(rng, k * d);
                var dxRef = (float[])dx.Clone();
                var dwRef = (float[])dw.Clone();
                Canon.Backward(dx, dw, dy, x, w, t, d);
                Canon.BackwardReference(dxRef, dwRef, dy, x, w, t, d);
                AllClose(dxRef, dx, 1e-5, 1e-5, $"canon dx d {d} k {k} t {t}");
                AllClose(dwRef, dw, 1e-5, 1e-5, $"canon dw d {d} k {k} t {t}");
            }

        // L = Σ dy ⊙ y: its gradient is the backward's output; check it numerically in double.
        int dd = 5, kk = 3, tt = 7;
        var xs = Floats(rng, tt * dd);
        var ws = Floats(rng, kk * dd, 0.5f);
        var g = Floats(rng, tt * dd);
        var gx = new float[tt * dd];
        var gw = new float[kk * dd];
        Canon.BackwardReference(gx, gw, g, xs, ws, tt, dd);
        double Loss()
        {
            var y = new float[tt * dd];
            Canon.ForwardReference(y, xs, 0, tt, ws, dd);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (double)g[i] * y[i];
            return s;
        }
        const float h = 1e-2f;
        for (int i = 0; i < xs.Length; i += 3)
        {
            float keep = xs[i];
            xs[i] = keep + h; double up = Loss();
            xs[i] = keep - h; double down = Loss();
            xs[i] = keep;
            Assert.True(Math.Abs((up - down) / (2 * h) - gx[i]) < 1e-3, $"dx[{i}]");
        }
        for (int i = 0; i < ws.Length; i++)
        {
            float keep = ws[i];
            ws[i] = keep + h; double up = Loss();
            ws[i] = keep - h; double down = Loss();
            ws[i] = keep;
            Assert.True(Math.Abs((up - down) / (2 * h) - gw[i]) < 1e-3, $"dw[{i}]");
        }
    }

    [Fact]
    public void Bad_shapes_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Canon.Forward(new float[4], new float[4], 1, 2, new float[4], 2)); // x too short for start + n
        Assert.Throws<ArgumentException>(() => Canon.Forward(new float[4], new float[6], 1, 2, new float[3], 2)); // w not K·D
        Assert.Throws<ArgumentException>(() => Canon.Backward(new float[4], new float[2], new float[4], new float[4], new float[4], 2, 2)); // dw not K·D
    }
}
