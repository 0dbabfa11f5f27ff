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

    // The AVX-512 prefill tiles, int8 (vpmaddubsw on block pairs; packed panels, GGUF blocks read directly, and the
    // default choosing by token count) and int16 (vpmaddwd per block), against the scalar
    // reference over odd block counts (a trailing half pair), token counts with a remainder after groups of 4, and
    // row counts with a ragged last panel (2 threads split 33 and 64 rows unevenly).
    public static TheoryData<string, string> TileCases => new()
    {
        { "q8_0", "Int8" }, { "q4_0", "Int8" }, { "q8_0", "Int16" }, { "q4_0", "Int16" },
        { "q8_0", "Int8Panel" }, { "q4_0", "Int8Panel" }, { "q8_0", "Int8Direct" }, { "q4_0", "Int8Direct" },
    };

    [Theory]
    [MemberData(nameof(TileCases))]
    public void QuantTiles_MatchReference_OverShapeSweep(string typeName, string tilesName)
    {
        var type = GgmlTypes.Parse(typeName);
        var tiles = Enum.Parse<MatMul.QuantTiles>(tilesName);
        var rng = new Random(30 + (int)type + 7 * (int)tiles);
        using var pool1 = new KernelThreadPool(1);
        using var pool2 = new KernelThreadPool(2);
        foreach (int k in new[] { 32, 64, 96, 160, 224, 576, 1536 })
            foreach (int t in new[] { 2, 3, 4, 5, 7, 8, 13, 64 })
                foreach (int n in new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 33, 64 })
                {
                    var w = Matrix(type, Floats(rng, n * k), n, k);
                    var x = Floats(rng, t * k, 2f);
                    CheckTiles(type, tiles, w, x, n, k, t, (n + t) % 2 == 0 ? pool1 : pool2, $"{type} {tiles} n {n} k {k} t {t}");
                }
    }

    // The direct int8 tiles (a batched Q4_0 decode step of 2 to 4 sequences by default; Q8_0 when asked for) round like
    // the decode rows one sequence alone runs on, so each sequence gets the same outputs to the bit (greedy output does
    // not depend on batching).
    [Theory]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void DirectTiles_GiveEachToken_WhatItGetsAlone_ToTheBit(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(77);
        using var pool = new KernelThreadPool(2);
        foreach (int k in new[] { 32, 96, 160, 576 })
            foreach (int n in new[] { 1, 5, 33 })
                foreach (int t in new[] { 2, 3, 4 })
                {
                    var w = Matrix(type, Floats(rng, n * k), n, k);
                    var x = Floats(rng, t * k, 2f);
                    var batched = new float[t * n];
                    var alone = new float[n];
                    var scratch = new byte[MatMul.ScratchBytes(type, k, t)];
                    fixed (byte* pw = w, ps = scratch)
                    fixed (float* px = x, pb = batched, pa = alone)
                    {
                        var view = new TensorView(pw, type, n, k);
                        MatMul.ForwardWithTiles(pool, pb, px, view, t, ps, MatMul.QuantTiles.Int8Direct);
                        if (type == GgmlType.Q4_0)
                        {
                            var byDefault = new float[t * n];
                            fixed (float* pd = byDefault) MatMul.Forward(pool, pd, px, view, t, ps);
                            Assert.Equal(batched, byDefault);
                        }
                        for (int tok = 0; tok < t; tok++)
                        {
                            MatMul.Forward(pool, pa, px + tok * k, view, 1, ps);
                            for (int r = 0; r < n; r++)
                                Assert.True(BitConverter.SingleToInt32Bits(alone[r]) == BitConverter.SingleToInt32Bits(batched[tok * n + r]),
                                    $"{type} n {n} k {k} t {t} [{tok},{r}]: alone {alone[r]:R}, batched {batched[tok * n + r]:R}");
                        }
                    }
                }
    }

    [Theory]
    [MemberData(nameof(TileCases))]
    public void QuantTiles_ExtremeValues_DoNotSaturate(string typeName, string tilesName)
    {
        // Every weight at the end of its range (Q8_0 -128, -127 and 127 as stored bytes; Q4_0 nibbles 0 and 15, i.e.
        // -8 and 7) against activations that all quantize to +-127: the largest int16 pair sums the tiles form
        // (2 * 128 * 127 = 32512, 2 * 15 * 127 = 3810) stay below 32767, so the results match the reference.
        var type = GgmlTypes.Parse(typeName);
        var tiles = Enum.Parse<MatMul.QuantTiles>(tilesName);
        using var pool = new KernelThreadPool(2);
        const int n = 9, k = 160, t = 13;
        int blockBytes = type == GgmlType.Q8_0 ? Quant.Q8_0BlockBytes : Quant.Q4_0BlockBytes;
        foreach (int pattern in new[] { 0, 1, 2, 3 })
        {
            var w = new byte[n * (k / Quant.QK) * blockBytes];
            for (int b = 0; b < w.Length / blockBytes; b++)
            {
                int o = b * blockBytes;
                BitConverter.TryWriteBytes(w.AsSpan(o, 2), BitConverter.HalfToUInt16Bits((Half)(0.5 + b % 3)));
                for (int j = 2; j < blockBytes; j++)
                {
                    bool neg = pattern switch { 0 => true, 1 => false, 2 => (b + j) % 2 == 0, _ => (b / 2 + j / 5) % 2 == 0 };
                    w[o + j] = type == GgmlType.Q8_0
                        ? (byte)(sbyte)(neg ? (pattern == 3 ? -127 : -128) : 127)
                        : (byte)(neg ? 0x00 : 0xFF);
                }
            }
            var x = new float[t * k];
            for (int i = 0; i < x.Length; i++)
                x[i] = pattern switch { 0 => 1f, 1 => -1f, 2 => (i % 3 == 0 ? -3f : 3f), _ => (i / 7 % 2 == 0 ? -0.25f : 0.25f) };
            CheckTiles(type, tiles, w, x, n, k, t, pool, $"{type} {tiles} extremes {pattern}");
        }
    }

    [Fact]
    public void QuantizeRowQ8_0_NeverProducesMinus128()
    {
        // The int8 tiles negate activation quants in int8; -128 would wrap. Round-half-away of x * (127 / amax)
        // stays within [-127, 127] even at the block's most negative element.
        var rng = new Random(31);
        var x = Floats(rng, 32 * 64, 3f);
        for (int b = 0; b < 64; b += 2) x[b * 32 + b % 32] = -1e30f * (b + 1);   // a dominant negative per block
        for (int b = 1; b < 64; b += 2) for (int j = 0; j < 32; j++) x[b * 32 + j] = -MathF.BitIncrement(1f) * (j % 2 == 0 ? 1 : -1);
        var q = new byte[64 * Quant.Q8_0BlockBytes];
        Quant.QuantizeRowQ8_0(x, q);
        for (int b = 0; b < 64; b++)
            for (int j = 0; j < 32; j++)
                Assert.NotEqual((sbyte)-128, (sbyte)q[b * Quant.Q8_0BlockBytes + 2 + j]);
    }

    private static void CheckTiles(GgmlType type, MatMul.QuantTiles tiles, byte[] wBytes, float[] x, int n, int k, int t, KernelThreadPool pool, string what)
    {
        var yFast = new float[t * n];
        var yRef = new float[t * n];
        var scratch = new byte[MatMul.ScratchBytes(type, k, t)];
        var wDeq = new float[n * k];
        for (int r = 0; r < n; r++)
            Quant.DequantizeRow(type, wBytes.AsSpan(r * wBytes.Length / n, wBytes.Length / n), wDeq.AsSpan(r * k, k));
        fixed (byte* pw = wBytes, ps = scratch)
        fixed (float* px = x, pyf = yFast, pyr = yRef)
        {
            var w = new TensorView(pw, type, n, k);
            MatMul.ForwardWithTiles(pool, pyf, px, w, t, ps, tiles);
            MatMul.ForwardReference(pyr, px, w, t, ps);
        }
        for (int tok = 0; tok < t; tok++)
            for (int r = 0; r < n; r++)
            {
                double abs = 0;
                for (int i = 0; i < k; i++) abs += Math.Abs((double)wDeq[r * k + i] * x[tok * k + i]);
                // Integer block sums are exact on both sides; only the float accumulation order differs.
                Close(yRef[tok * n + r], yFast[tok * n + r], 1e-5 * abs + 1e-6, $"{what} [{tok},{r}]");
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
        // 7 tokens x 18 blocks = 126 blocks (9 pairs per token): Q8_0 bytes 4284 -> 4288 aligned; + 7*9*16 floats
        // = 8320; + 126*32 int16 = 16384; + 126 floats = 16888 -> 16896 aligned; + 7*576 int8 = 20928;
        // + 7*32 floats = 21824.
        Assert.Equal(21824, MatMul.ScratchBytes(GgmlType.Q4_0, 576, 7));
        Assert.Equal(21824, MatMul.ScratchBytes(GgmlType.Q8_0, 576, 7));
        // 5 tokens x 5 blocks (odd: 3 pairs, Kp 192): 850 -> 896; + 5*48 floats = 1856; + 5*160 int16 = 3456;
        // + 25 floats = 3556 -> 3584; + 5*192 int8 = 4544; + 5*16 floats = 4864.
        Assert.Equal(4864, MatMul.ScratchBytes(GgmlType.Q8_0, 160, 5));
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
    [InlineData("q8_0", 8)]
    [InlineData("q4_0", 70)]
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
