using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Tests.Training;

/// <summary>
/// Every backward kernel against double-precision central differences of an independent double forward written here
/// (L = Σ r ⊙ f(x) with random r; step 1e-5; tolerance 1e-4 absolute + 1e-3 relative, float32 kernels against float64
/// truth) and against its scalar reference (1e-5 absolute + 1e-4 relative: same math, other summation order).
/// </summary>
public sealed unsafe class BackwardKernelTests
{
    private const double FdStep = 1e-5;

    private static float[] Rand(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>∂/∂x_i of f, by central differences in double.</summary>
    private static double[] NumGrad(Func<double[], double> f, float[] x)
    {
        var xd = x.Select(v => (double)v).ToArray();
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double keep = xd[i];
            xd[i] = keep + FdStep; double up = f(xd);
            xd[i] = keep - FdStep; double down = f(xd);
            xd[i] = keep;
            g[i] = (up - down) / (2 * FdStep);
        }
        return g;
    }

    private static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double abs, double rel, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= abs + rel * Math.Abs(expected[i]), $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    private static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what) =>
        Close(actual, expected.ToArray().Select(v => (double)v).ToArray(), 1e-5, 1e-4, what);

    private static void CloseFd(ReadOnlySpan<float> actual, double[] expected, string what) => Close(actual, expected, 1e-4, 1e-3, what);

    // ---------------------------------------------------------------- RMSNorm

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(257)]
    public void RmsNorm_backward_matches_finite_differences_and_reference(int d)
    {
        var rng = new Random(d);
        float[] x = Rand(rng, d), w = Rand(rng, d), dy = Rand(rng, d), dx0 = Rand(rng, d);
        const float eps = 1e-5f;
        double F(double[] xs)
        {
            double ss = 0;
            foreach (var v in xs) ss += v * v;
            double r = 1 / Math.Sqrt(ss / d + eps), l = 0;
            for (int i = 0; i < d; i++) l += dy[i] * xs[i] * r * w[i];
            return l;
        }
        var fd = NumGrad(F, x).Select((g, i) => g + dx0[i]).ToArray();
        var dx = dx0.ToArray();
        Norms.RmsNormBackward(dx, dy, x, w, eps, new float[d]);
        CloseFd(dx, fd, "dx");
        var dxRef = dx0.ToArray();
        Norms.RmsNormBackwardReference(dxRef, dy, x, w, eps);
        Close(dx, dxRef, "dx vs reference");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(257)]
    public void RmsNorm_weight_backward_matches_finite_differences_and_reference(int d)
    {
        var rng = new Random(d + 100);
        float[] x = Rand(rng, d), w = Rand(rng, d), dy = Rand(rng, d), dw0 = Rand(rng, d);
        const float eps = 1e-5f;
        double ss = 0;
        foreach (var v in x) ss += (double)v * v;
        double r = 1 / Math.Sqrt(ss / d + eps);
        double F(double[] ws)
        {
            double l = 0;
            for (int i = 0; i < d; i++) l += dy[i] * x[i] * r * ws[i];
            return l;
        }
        var fd = NumGrad(F, w).Select((g, i) => g + dw0[i]).ToArray();
        var dw = dw0.ToArray();
        Norms.RmsNormWeightBackward(dw, dy, x, eps, new float[d]);
        CloseFd(dw, fd, "dw");
        var dwRef = dw0.ToArray();
        Norms.RmsNormWeightBackwardReference(dwRef, dy, x, eps);
        Close(dw, dwRef, "dw vs reference");
    }

    // ---------------------------------------------------------------- RoPE

    [Theory]
    [InlineData(false, 8, 0)]
    [InlineData(false, 16, 5)]
    [InlineData(true, 16, 37)]
    [InlineData(true, 64, 1000)]
    public void Rope_backward_is_the_inverse_rotation(bool neox, int hd, int pos)
    {
        var mode = neox ? RopeMode.NeoX : RopeMode.Normal;
        var rng = new Random(hd + pos);
        int heads = 3;
        var invFreq = new float[hd / 2];
        Rope.InverseFrequencies(invFreq, hd, 10000f);
        float[] x = Rand(rng, heads * hd), dy = Rand(rng, heads * hd);
        double F(double[] xs)
        {
            double l = 0;
            int half = hd / 2;
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    double ang = pos * invFreq[i];  // the angle is formed in float by the kernel; equal here for these pos
                    ang = (float)ang;
                    int a = h * hd + (mode == RopeMode.Normal ? 2 * i : i), b = h * hd + (mode == RopeMode.Normal ? 2 * i + 1 : i + half);
                    double c = Math.Cos(ang), s = Math.Sin(ang);
                    l += dy[a] * (xs[a] * c - xs[b] * s) + dy[b] * (xs[a] * s + xs[b] * c);
                }
            return l;
        }
        var fd = NumGrad(F, x);
        var dx = dy.ToArray();
        Rope.Backward(dx, heads, hd, pos, invFreq, mode);
        CloseFd(dx, fd, "dx");
        var dxRef = dy.ToArray();
        Rope.BackwardReference(dxRef, heads, hd, pos, invFreq, mode);
        Close(dx, dxRef, "dx vs reference");

        // The table form used in training rotates like Apply / Backward.
        float[] cos = new float[(pos + 1) * (hd / 2)], sin = new float[cos.Length];
        Rope.Table(cos, sin, pos + 1, invFreq);
        var fwd = x.ToArray();
        var fwdTable = x.ToArray();
        Rope.Apply(fwd, heads, hd, pos, invFreq, mode);
        Rope.ApplyTable(fwdTable, heads, hd, cos.AsSpan(pos * (hd / 2)), sin.AsSpan(pos * (hd / 2)), mode, inverse: false);
        Close(fwdTable, fwd, "table forward");
        var bwdTable = dy.ToArray();
        Rope.ApplyTable(bwdTable, heads, hd, cos.AsSpan(pos * (hd / 2)), sin.AsSpan(pos * (hd / 2)), mode, inverse: true);
        Close(bwdTable, dx, "table backward");

        var roundTrip = x.ToArray();
        Rope.Apply(roundTrip, heads, hd, pos, invFreq, mode);
        Rope.Backward(roundTrip, heads, hd, pos, invFreq, mode);
        Close(roundTrip, x, "R(-θ)R(θ)x");
    }

    // ---------------------------------------------------------------- SwiGLU

    [Fact]
    public void SwiGlu_backward_matches_finite_differences_and_reference_for_every_length()
    {
        var rng = new Random(1);
        for (int n = 0; n <= 257; n++)
        {
            float[] g = Rand(rng, n, 4), u = Rand(rng, n, 2), dy = Rand(rng, n);
            float[] dg = new float[n], du = new float[n], dgRef = new float[n], duRef = new float[n];
            Activations.SwiGluBackward(dg, du, dy, g, u);
            Activations.SwiGluBackwardReference(dgRef, duRef, dy, g, u);
            Close(dg, dgRef, $"n={n} dGate");
            Close(du, duRef, $"n={n} dUp");
            if (n is 1 or 17 or 64)
            {
                double Silu(double z) => z / (1 + Math.Exp(-z));
                CloseFd(dg, NumGrad(gs => Enumerable.Range(0, n).Sum(i => dy[i] * Silu(gs[i]) * u[i]), g), $"n={n} dGate fd");
                CloseFd(du, NumGrad(us => Enumerable.Range(0, n).Sum(i => dy[i] * Silu(g[i]) * us[i]), u), $"n={n} dUp fd");
            }
        }
    }

    // ---------------------------------------------------------------- cross-entropy

    [Theory]
    [InlineData(1, 0)]
    [InlineData(5, 3)]
    [InlineData(512, 100)]
    [InlineData(33, -1)]
    public void CrossEntropy_backward_matches_finite_differences_and_reference(int v, int target)
    {
        var rng = new Random(v);
        var z = Rand(rng, v, 5);
        const float scale = 0.25f;
        double F(double[] zs)
        {
            if (target < 0) return 0;
            double max = zs.Max(), sum = zs.Sum(x => Math.Exp(x - max));
            return scale * (Math.Log(sum) + max - zs[target]);
        }
        var dz = z.ToArray();
        float loss = Softmax.CrossEntropyBackward(dz, target, scale);
        Assert.Equal(F(z.Select(x => (double)x).ToArray()) / scale is var l && target >= 0 ? l : 0, loss, 4);
        CloseFd(dz, NumGrad(F, z), "dz");
        var dzRef = z.ToArray();
        Assert.Equal(loss, Softmax.CrossEntropyBackwardReference(dzRef, target, scale), 4);
        Close(dz, dzRef, "dz vs reference");
        Assert.Equal(loss, Softmax.CrossEntropy(z, target, new float[v]), 4);
    }

    // ---------------------------------------------------------------- attention

    [Theory]
    [InlineData(1, 1, 1, 1, 4)]
    [InlineData(2, 5, 4, 2, 8)]
    [InlineData(1, 7, 3, 3, 6)]
    [InlineData(2, 4, 4, 1, 2)]
    public void Attention_backward_matches_finite_differences_and_reference(int b, int t, int h, int hkv, int hd)
    {
        var rng = new Random(b * 100 + t * 10 + h);
        int qd = h * hd, kd = hkv * hd, n = b * t;
        float[] q = Rand(rng, n * qd), k = Rand(rng, n * kd), v = Rand(rng, n * kd), dOut = Rand(rng, n * qd);
        var (dq, dk, dv) = AttentionAgainstReference(b, t, h, hkv, hd, q, k, v, dOut);

        double F(double[] qs, double[] ks, double[] vs)
        {
            double l = 0, scale = 1 / Math.Sqrt(hd);
            for (int bi = 0; bi < b; bi++)
                for (int hi = 0; hi < h; hi++)
                    for (int tq = 0; tq < t; tq++)
                    {
                        int g = hi / (h / hkv);
                        var s = new double[tq + 1];
                        for (int ts = 0; ts <= tq; ts++)
                            for (int i = 0; i < hd; i++) s[ts] += qs[(bi * t + tq) * qd + hi * hd + i] * ks[(bi * t + ts) * kd + g * hd + i] * scale;
                        double max = s.Max(), sum = s.Sum(x => Math.Exp(x - max));
                        for (int ts = 0; ts <= tq; ts++)
                            for (int i = 0; i < hd; i++)
                                l += dOut[(bi * t + tq) * qd + hi * hd + i] * Math.Exp(s[ts] - max) / sum * vs[(bi * t + ts) * kd + g * hd + i];
                    }
            return l;
        }
        double[] D(float[] a) => a.Select(x => (double)x).ToArray();
        CloseFd(dq, NumGrad(x => F(x, D(k), D(v)), q), "dq");
        CloseFd(dk, NumGrad(x => F(D(q), x, D(v)), k), "dk");
        CloseFd(dv, NumGrad(x => F(D(q), D(k), x), v), "dv");
    }

    /// <summary>Longer sequences than the finite-difference cases: T not a multiple of the GEMM's register tile, and past its KC = 256 block.</summary>
    [Theory]
    [InlineData(2, 37, 6, 2, 20)]
    [InlineData(1, 300, 3, 1, 16)]
    public void Attention_matches_the_reference_for_long_odd_shapes(int b, int t, int h, int hkv, int hd)
    {
        var rng = new Random(t);
        int qd = h * hd, kd = hkv * hd, n = b * t;
        AttentionAgainstReference(b, t, h, hkv, hd, Rand(rng, n * qd), Rand(rng, n * kd), Rand(rng, n * kd), Rand(rng, n * qd));
    }

    /// <summary>
    /// Runs the training attention forward and backward beside their scalar references and checks every output; the
    /// gradients start as NaN, since Backward overwrites them and must never read them. Returns dq, dk, dv.
    /// </summary>
    private static (float[] Dq, float[] Dk, float[] Dv) AttentionAgainstReference(int b, int t, int h, int hkv, int hd, float[] q, float[] k, float[] v, float[] dOut)
    {
        int qd = h * hd, kd = hkv * hd, n = b * t;
        float[] o = new float[n * qd], p = new float[b * h * t * t], oRef = new float[n * qd], pRef = new float[b * h * t * t];
        float[] dq = Enumerable.Repeat(float.NaN, n * qd).ToArray(), dk = Enumerable.Repeat(float.NaN, n * kd).ToArray(), dv = Enumerable.Repeat(float.NaN, n * kd).ToArray();
        float[] dqRef = new float[n * qd], dkRef = new float[n * kd], dvRef = new float[n * kd];
        using var pool = new KernelThreadPool(2);
        var scratch = new float[Attention.BackwardScratchFloats(t)];
        fixed (float* pq = q, pk = k, pv = v, pdo = dOut, po = o, pp = p, por = oRef, ppr = pRef, pdq = dq, pdk = dk, pdv = dv, pdqr = dqRef, pdkr = dkRef, pdvr = dvRef, ps = scratch)
        {
            Attention.ForwardTraining(pool, po, pp, pq, pk, pv, b, t, h, hkv, hd);
            Attention.ForwardTrainingReference(por, ppr, pq, pk, pv, b, t, h, hkv, hd);
            Attention.Backward(pool, pdq, pdk, pdv, pdo, pp, pq, pk, pv, b, t, h, hkv, hd, ps);
            Attention.BackwardReference(pdqr, pdkr, pdvr, pdo, ppr, pq, pk, pv, b, t, h, hkv, hd);
        }
        Close(o, oRef, "out vs reference");
        Close(p, pRef, "probs vs reference");
        Close(dq, dqRef, "dq vs reference");
        Close(dk, dkRef, "dk vs reference");
        Close(dv, dvRef, "dv vs reference");
        return (dq, dk, dv);
    }

    // ---------------------------------------------------------------- matmul

    public static TheoryData<string> Types => new() { "f32", "f16", "bf16", "q8_0", "q4_0" };

    [Theory]
    [MemberData(nameof(Types))]
    public void Matmul_training_products_match_reference_for_every_weight_type(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(typeName.Length);
        int t = 5, n = 37, k = 64;
        var wf = Rand(rng, n * k);
        long rowBytes = GgmlTypes.Traits(type).RowBytes(k);
        var wBytes = new byte[rowBytes * n];
        for (int r = 0; r < n; r++) Quant.QuantizeRow(type, wf.AsSpan(r * k, k), wBytes.AsSpan((int)(r * rowBytes), (int)rowBytes));
        float[] x = Rand(rng, t * k), dy = Rand(rng, t * n), dx0 = Rand(rng, t * k);
        float[] y = new float[t * n], yRef = new float[t * n], dx = dx0.ToArray(), dxRef = dx0.ToArray();
        using var pool = new KernelThreadPool(2);
        var scratch = new float[MatMul.TrainingScratchFloats(2)];
        fixed (byte* pw = wBytes)
        fixed (float* px = x, pdy = dy, py = y, pyr = yRef, pdx = dx, pdxr = dxRef, ps = scratch)
        {
            var w = new TensorView(pw, type, n, k);
            MatMul.ForwardDequantized(pool, py, px, w, t, ps);
            MatMul.ForwardDequantizedReference(pyr, px, w, t);
            MatMul.BackwardInput(pool, pdx, pdy, w, t, ps);
            MatMul.BackwardInputReference(pdxr, pdy, w, t);
        }
        Close(y, yRef, "y vs reference");
        Close(dx, dxRef, "dx vs reference");

        // Finite differences against the dequantized weights: the product is linear in x, so this checks the transpose.
        var wd = new float[n * k];
        for (int r = 0; r < n; r++) Quant.DequantizeRow(type, wBytes.AsSpan((int)(r * rowBytes), (int)rowBytes), wd.AsSpan(r * k, k));
        double F(double[] xs)
        {
            double l = 0;
            for (int tok = 0; tok < t; tok++)
                for (int r = 0; r < n; r++)
                    for (int i = 0; i < k; i++) l += dy[tok * n + r] * wd[r * k + i] * xs[tok * k + i];
            return l;
        }
        CloseFd(dx, NumGrad(F, x).Select((g, i) => g + dx0[i]).ToArray(), "dx");
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 8, 33)]
    [InlineData(19, 40, 2)]
    public void Matmul_weight_gradient_matches_finite_differences_and_reference(int t, int n, int k)
    {
        var rng = new Random(t * n * k);
        float[] x = Rand(rng, t * k), dy = Rand(rng, t * n), w = Rand(rng, n * k), dw0 = Rand(rng, n * k);
        float[] dw = dw0.ToArray(), dwRef = dw0.ToArray();
        const float scale = 1.5f;
        using var pool = new KernelThreadPool(2);
        fixed (float* px = x, pdy = dy, pdw = dw, pdwr = dwRef)
        {
            MatMul.BackwardWeight(pool, pdw, pdy, px, t, n, k, scale);
            MatMul.BackwardWeightReference(pdwr, pdy, px, t, n, k, scale);
        }
        Close(dw, dwRef, "dw vs reference");
        double F(double[] ws)
        {
            double l = 0;
            for (int tok = 0; tok < t; tok++)
                for (int r = 0; r < n; r++)
                    for (int i = 0; i < k; i++) l += scale * dy[tok * n + r] * ws[r * k + i] * x[tok * k + i];
            return l;
        }
        CloseFd(dw, NumGrad(F, w).Select((g, i) => g + dw0[i]).ToArray(), "dw");
    }
}
