using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Tests.Threading;
using RagTune.Engine.Threading;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

[Trait("Category", "Kernels")]
public sealed unsafe class MatMulTests
{
    public static TheoryData<string> Types => new() { "f32", "f16", "bf16", "q8_0", "q4_0" };

    private static int[] Ks(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0
        ? [32, 64, 96, 288, 576]
        : [.. Enumerable.Range(0, 34).Select(i => 2 * i + 1), 576];

    [Theory]
    [MemberData(nameof(Types))]
    public void Forward_MatchesReference_OverOddShapes(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(10 + (int)type);
        using var pool1 = new KernelThreadPool(1);
        using var pool3 = new KernelThreadPool(3);
        foreach (int k in Ks(type))
            foreach (int n in new[] { 1, 7, 33, 37 })
                foreach (int t in new[] { 1, 3, 7, 9, 70 })
                    Check(type, rng, n, k, t, (n + k + t) % 2 == 0 ? pool1 : pool3);
    }

    private static void Check(GgmlType type, Random rng, int n, int k, int t, KernelThreadPool pool)
    {
        var wSrc = Floats(rng, n * k);
        var wBytes = Matrix(type, wSrc, n, k);
        var x = Floats(rng, t * k, 2f);
        var yFast = new float[t * n];
        var yRef = new float[t * n];
        var scratch = new byte[Math.Max(1, MatMul.ScratchBytes(type, k, t))];
        var wDeq = new float[n * k];
        for (int r = 0; r < n; r++)
            Quant.DequantizeRow(type, wBytes.AsSpan(r * wBytes.Length / n, wBytes.Length / n), wDeq.AsSpan(r * k, k));

        fixed (byte* pw = wBytes)
        fixed (float* px = x, pyf = yFast, pyr = yRef)
        fixed (byte* ps = scratch)
        {
            var w = new TensorView(pw, type, n, k);
            MatMul.Forward(pool, pyf, px, w, t, ps);
            MatMul.ForwardReference(pyr, px, w, t, ps);
        }

        for (int tok = 0; tok < t; tok++)
        {
            for (int r = 0; r < n; r++)
            {
                double abs = 0, exact = 0;
                for (int i = 0; i < k; i++)
                {
                    abs += Math.Abs((double)wDeq[r * k + i] * x[tok * k + i]);
                    exact += (double)wDeq[r * k + i] * x[tok * k + i];
                }
                string what = $"{type} n {n} k {k} t {t} threads {pool.Threads} [{tok},{r}]";
                // Fast vs reference: identical quantized activations and integer block sums; float order only.
                Close(yRef[tok * n + r], yFast[tok * n + r], 1e-5 * abs + 1e-6, what);
                // Reference vs exact product of the stored weights: only the Q8_0 rounding of x (half a step of
                // amax/127 per element, amax <= 2) remains for quantized weights.
                double budget = type is GgmlType.Q8_0 or GgmlType.Q4_0 ? 2.0 / 254 * SumAbs(wDeq, r * k, k) + 1e-4 : 1e-5 * abs + 1e-6;
                Close((float)exact, yRef[tok * n + r], budget, what + " vs exact");
            }
        }
    }

    private static double SumAbs(float[] a, int start, int n)
    {
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.Abs(a[start + i]);
        return s;
    }

    [Fact]
    public void ScratchBytes_FollowsTheDocumentedLayout()
    {
        // 7 tokens x 18 blocks = 126 blocks: Q8_0 bytes 4284 -> 4288 aligned; + 126*8 floats = 8320;
        // + 126*32 int16 = 16384; + 126 floats = 16888.
        Assert.Equal(16888, MatMul.ScratchBytes(GgmlType.Q4_0, 576, 7));
        Assert.Equal(16888, MatMul.ScratchBytes(GgmlType.Q8_0, 576, 7));
        Assert.Equal(0, MatMul.ScratchBytes(GgmlType.F32, 576, 7));
    }
}

[Collection(nameof(AllocationTests))]
[Trait("Category", "Kernels")]
public sealed unsafe class MatMulAllocationTests
{
    [Theory]
    [InlineData("f32", 1)]
    [InlineData("q8_0", 1)]
    [InlineData("q4_0", 5)]
    [InlineData("f16", 2)]
    [InlineData("bf16", 5)]
    public void Forward_AllocatesNothing(string typeName, int t)
    {
        var type = GgmlTypes.Parse(typeName);
        const int n = 96, k = 64;
        var rng = new Random(20);
        var wBytes = Matrix(type, Floats(rng, n * k), n, k);
        var x = Floats(rng, t * k);
        var y = new float[t * n];
        var scratch = new byte[Math.Max(1, MatMul.ScratchBytes(type, k, t))];
        using var pool = new KernelThreadPool(2);
        long delta = AllocationProbe.Measure(pool, () =>
        {
            fixed (byte* pw = wBytes, ps = scratch)
            fixed (float* px = x, py = y)
            {
                var w = new TensorView(pw, type, n, k);
                for (int i = 0; i < 200; i++) MatMul.Forward(pool, py, px, w, t, ps);
            }
        });
        Assert.Equal(0, delta);
    }
}

[Collection(nameof(AllocationTests))]
[Trait("Category", "Kernels")]
public sealed unsafe class AttentionAllocationTests
{
    [Fact]
    public void ForwardBatch_AllocatesNothing()
    {
        const int nHeads = 9, nKvHeads = 3, headDim = 64, ctx = 40, t = 5;
        var rng = new Random(21);
        var q = Floats(rng, t * nHeads * headDim);
        var k = Floats(rng, ctx * nKvHeads * headDim);
        var v = Floats(rng, ctx * nKvHeads * headDim);
        var o = new float[t * nHeads * headDim];
        using var pool = new KernelThreadPool(2);
        var scratch = new float[Attention.ScratchFloats(pool.Threads, ctx)];
        long delta = AllocationProbe.Measure(pool, () =>
        {
            fixed (float* po = o, pq = q, pk = k, pv = v, ps = scratch)
            {
                for (int i = 0; i < 100; i++)
                {
                    Attention.ForwardBatch(pool, po, pq, pk, pv, t, 30, nHeads, nKvHeads, headDim, ps);
                    Attention.ForwardBatch(pool, po, pq, pk, pv, 1, 34, nHeads, nKvHeads, headDim, ps);
                }
            }
        });
        Assert.Equal(0, delta);
    }
}
