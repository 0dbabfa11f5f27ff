using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Tests.Kernels;

/// <summary>
/// The blocked training GEMM (MatMul.Gemm.cs) behind <see cref="MatMul.ForwardDequantized"/>, <see cref="MatMul.BackwardInput"/>
/// and <see cref="MatMul.BackwardWeight"/> against their scalar double references, over shapes that are not multiples
/// of the register tile (MR 8/6/4 × NR 32/16/8/4) or of the cache blocks (MC 96, KC 256, NC 512), and every weight type.
/// The test project also runs with AVX-512 and AVX2 switched off (test.sh), which covers the 6×16 and 6×8 kernels.
/// Tolerance: 1e-5 + 1e-6·P absolute + 1e-5 relative for a sum of P products of values in [-1, 1] (float32
/// accumulation in another order than the double reference; a missing or doubled term is off by ~0.1).
/// </summary>
public sealed unsafe class TrainingGemmTests
{
    private static void AllClose(float[] expected, float[] actual, int p, string what) =>
        KernelTestData.AllClose(expected, actual, 1e-5 + 1e-6 * p, 1e-5, what);

    /// <summary>(T, N, K) with K a multiple of <paramref name="block"/>: odd sizes around every tile and block edge.</summary>
    private static IEnumerable<(int T, int N, int K)> Shapes(int block)
    {
        int[] ts = [1, 3, 9, 31, 33, 97], ns = [1, 3, 31, 33, 65, 577];
        int[] ks = block == 1 ? [1, 3, 31, 33, 65, 577] : block == 32 ? [32, 96, 288, 544] : [256, 512, 768];
        foreach (int t in ts)
            foreach (int n in ns)
                foreach (int k in ks)
                    if ((long)t * n * k <= 4_000_000) yield return (t, n, k);
    }

    public static TheoryData<string> Types => new() { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k" };

    [Theory]
    [MemberData(nameof(Types))]
    public void Forward_and_input_gradient_match_the_references_for_odd_shapes(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        int block = GgmlTypes.Traits(type).BlockSize;
        var rng = new Random(typeName.GetHashCode(StringComparison.Ordinal) & 0xFFFF);
        using var pool = new KernelThreadPool(2);
        var scratch = new float[MatMul.TrainingScratchFloats(2)];
        foreach (var (t, n, k) in Shapes(block))
        {
            var wBytes = KernelTestData.Matrix(type, KernelTestData.Floats(rng, n * k), n, k);
            float[] x = KernelTestData.Floats(rng, t * k), dy = KernelTestData.Floats(rng, t * n), dx0 = KernelTestData.Floats(rng, t * k);
            // y starts as NaN: the forward product must overwrite every element, never read it.
            float[] y = Enumerable.Repeat(float.NaN, t * n).ToArray(), yRef = new float[t * n], dx = dx0.ToArray(), dxRef = dx0.ToArray();
            fixed (byte* pw = wBytes)
            fixed (float* px = x, pdy = dy, py = y, pyr = yRef, pdx = dx, pdxr = dxRef, ps = scratch)
            {
                var w = new TensorView(pw, type, n, k);
                MatMul.ForwardDequantized(pool, py, px, w, t, ps);
                MatMul.ForwardDequantizedReference(pyr, px, w, t);
                MatMul.BackwardInput(pool, pdx, pdy, w, t, ps);
                MatMul.BackwardInputReference(pdxr, pdy, w, t);
            }
            AllClose(yRef, y, k, $"{typeName} T={t} N={n} K={k} y");
            AllClose(dxRef, dx, n, $"{typeName} T={t} N={n} K={k} dx");
        }
    }

    [Fact]
    public void Products_without_scratch_and_on_one_thread_match_the_references()
    {
        var rng = new Random(5);
        const int t = 70, n = 45, k = 300;
        var w = KernelTestData.Floats(rng, n * k);
        float[] x = KernelTestData.Floats(rng, t * k), dy = KernelTestData.Floats(rng, t * n);
        using var pool = new KernelThreadPool(1);
        float[] y = new float[t * n], yRef = new float[t * n], dx = new float[t * k], dxRef = new float[t * k];
        fixed (float* pw = w, px = x, pdy = dy, py = y, pyr = yRef, pdx = dx, pdxr = dxRef)
        {
            var view = new TensorView((byte*)pw, GgmlType.F32, n, k);
            MatMul.ForwardDequantized(pool, py, px, view, t, null);
            MatMul.ForwardDequantizedReference(pyr, px, view, t);
            MatMul.BackwardInput(pool, pdx, pdy, view, t, null);
            MatMul.BackwardInputReference(pdxr, pdy, view, t);
        }
        AllClose(yRef, y, k, "y");
        AllClose(dxRef, dx, n, "dx");
    }

    [Fact]
    public void Weight_gradient_matches_the_reference_for_odd_and_thin_shapes()
    {
        var rng = new Random(3);
        using var pool = new KernelThreadPool(2);
        // (T, N, K): odd sizes, and the LoRA shapes (rank 8 on either side) that split along the other dimension.
        (int T, int N, int K)[] shapes =
        [
            (1, 1, 1), (3, 5, 7), (33, 31, 65), (65, 577, 33), (300, 9, 577), (257, 97, 31), (1, 600, 3),
            (200, 8, 576), (200, 576, 8), (530, 33, 17),
        ];
        foreach (var (t, n, k) in shapes)
        {
            float[] x = KernelTestData.Floats(rng, t * k), dy = KernelTestData.Floats(rng, t * n), dw0 = KernelTestData.Floats(rng, n * k);
            float[] dw = dw0.ToArray(), dwRef = dw0.ToArray();
            const float scale = 0.75f;
            fixed (float* px = x, pdy = dy, pdw = dw, pdwr = dwRef)
            {
                MatMul.BackwardWeight(pool, pdw, pdy, px, t, n, k, scale);
                MatMul.BackwardWeightReference(pdwr, pdy, px, t, n, k, scale);
            }
            AllClose(dwRef, dw, t, $"T={t} N={n} K={k} dw");
        }
    }

    [Fact]
    public void Products_with_an_empty_summed_dimension_write_zeros_or_leave_the_gradient()
    {
        using var pool = new KernelThreadPool(2);
        float[] y = [1f, 2f, 3f], dw = [4f, 5f];
        float[] none = new float[1];
        fixed (float* py = y, pdw = dw, pn = none)
        {
            // Forward with K = 0: y = 0. Weight gradient over T = 0 tokens: dw unchanged.
            MatMul.ForwardDequantized(pool, py, pn, new TensorView((byte*)pn, GgmlType.F32, 3, 0), 1, null);
            MatMul.BackwardWeight(pool, pdw, pn, pn, 0, 1, 2, 1f);
        }
        Assert.Equal([0f, 0f, 0f], y);
        Assert.Equal([4f, 5f], dw);
    }

    // The encoder's dense layers: Y = X · Wᵀ + bias with the bias added as tiles are stored (both split directions,
    // shapes across KC so later K blocks accumulate onto a biased first one, and the P = 0 edge).
    [Fact]
    public void Gemm_with_bias_adds_it_once_to_every_row()
    {
        var rng = new Random(6);
        using var pool = new KernelThreadPool(2);
        foreach (var (t, n, k) in new[] { (1, 3, 5), (9, 33, 31), (97, 65, 300), (40, 577, 513), (5, 7, 0) })
            foreach (bool splitRows in new[] { true, false })
            {
                float[] x = KernelTestData.Floats(rng, t * k), w = KernelTestData.Floats(rng, n * k), bias = KernelTestData.Floats(rng, n);
                float[] y = Enumerable.Repeat(float.NaN, t * n).ToArray(), yRef = new float[t * n];
                for (int r = 0; r < t; r++)
                    for (int j = 0; j < n; j++)
                    {
                        double acc = bias[j];
                        for (int p = 0; p < k; p++) acc += (double)x[r * k + p] * w[j * k + p];
                        yRef[r * n + j] = (float)acc;
                    }
                fixed (float* px = x, pw = w, pb = bias, py = y)
                    MatMul.Gemm(pool, py, n, t, n, k, new MatMul.GemmOperand(MatMul.F32View(px, t, k), transposed: false),
                        new MatMul.GemmOperand(MatMul.F32View(pw, n, k), transposed: true), 1f, accumulate: false, splitRows, scratch: null, bias: pb);
                AllClose(yRef, y, k, $"T={t} N={n} K={k} split rows {splitRows}");
            }
    }

    [Fact]
    public void Gemm_refuses_a_bias_when_accumulating()
    {
        using var pool = new KernelThreadPool(1);
        float[] c = new float[4], a = new float[4], b = new float[4], bias = new float[2];
        Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* pc = c, pa = a, pb = b, pbias = bias)
                MatMul.Gemm(pool, pc, 2, 2, 2, 2, new MatMul.GemmOperand(MatMul.F32View(pa, 2, 2), false),
                    new MatMul.GemmOperand(MatMul.F32View(pb, 2, 2), true), 1f, accumulate: true, splitRows: true, scratch: null, bias: pbias);
        });
    }
}
