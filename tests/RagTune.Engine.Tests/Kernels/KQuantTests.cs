using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Tests.Threading;
using RagTune.Engine.Threading;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

// K-quants (Q4_K, Q5_K, Q6_K) and their Q8_K activation partner. Budgets:
//   quantize -> dequantize: every element within 1.0 (Q4_K, Q5_K) / 1.6 (Q6_K) of its sub-block's decoded step
//     (d*sc; half a step is rounding, the rest is what the least-squares fit and the 6-/8-bit scale codes may clip;
//     measured 0.89 / 0.90 / 1.46 on rows whose sub-block scales span 120x). RMS error / RMS(x):
//     uniform [-1, 1] rows Q4_K < 0.06, Q5_K < 0.03, Q6_K < 0.015 (measured 0.054 / 0.027 / 0.013);
//     standard normal rows < 0.08 / 0.04 / 0.02 (measured 0.071 / 0.035 / 0.017).
//   dot AVX2 vs scalar reference: 1e-5 * sum|w x| (integer sums are exact; float order only).
//   scalar reference vs a float dot of the dequantized blocks: 1e-5 * sum|w x| (checks the index arithmetic).
[Trait("Category", "Kernels")]
public sealed unsafe class KQuantTests
{
    private static readonly int[] s_blockCounts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 33];
    private static readonly byte[] s_sc = [1, 2, 3, 4, 17, 33, 49, 63];
    private static readonly byte[] s_m = [0, 5, 10, 20, 31, 40, 50, 62];

    public static TheoryData<string> Types => new() { "q4_k", "q5_k", "q6_k" };

    // 12 scale bytes written straight from ggml's layout description (not through the engine's packer).
    private static void WriteScales(byte[] block)
    {
        for (int j = 0; j < 4; j++)
        {
            block[4 + j] = (byte)(s_sc[j] | ((s_sc[j + 4] >> 4) << 6));
            block[4 + 4 + j] = (byte)(s_m[j] | ((s_m[j + 4] >> 4) << 6));
            block[4 + 8 + j] = (byte)((s_sc[j + 4] & 0xF) | ((s_m[j + 4] & 0xF) << 4));
        }
    }

    [Fact]
    public void Q4_K_HandMadeBlock_DecodesPerGgmlLayout()
    {
        var block = new byte[144];
        block[0] = 0x00; block[1] = 0x3C;    // d = 1.0
        block[2] = 0x00; block[3] = 0x38;    // dmin = 0.5
        WriteScales(block);
        for (int i = 0; i < 128; i++) block[16 + i] = (byte)((i % 16) | ((15 - i % 16) << 4));
        var x = new float[256];
        Quant.DequantizeRow(GgmlType.Q4_K, block, x);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
            {
                Assert.Equal(s_sc[2 * c] * (l % 16) - 0.5f * s_m[2 * c], x[64 * c + l]);
                Assert.Equal(s_sc[2 * c + 1] * (15 - l % 16) - 0.5f * s_m[2 * c + 1], x[64 * c + 32 + l]);
            }
        Assert.Equal(63 * 15 - 31f, x[240]);  // sub-block 7: scale 63, min 62 (both need the high bits)
    }

    [Fact]
    public void Q5_K_HandMadeBlock_DecodesPerGgmlLayout()
    {
        var block = new byte[176];
        block[0] = 0x00; block[1] = 0x3C;    // d = 1.0
        block[2] = 0x00; block[3] = 0x38;    // dmin = 0.5
        WriteScales(block);
        for (int l = 0; l < 32; l++) block[16 + l] = (byte)(l * 37 + 11);
        for (int i = 0; i < 128; i++) block[48 + i] = (byte)((i % 16) | ((15 - i % 16) << 4));
        var x = new float[256];
        Quant.DequantizeRow(GgmlType.Q5_K, block, x);
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++)
            {
                int c = j / 2;
                int nib = j % 2 == 0 ? l % 16 : 15 - l % 16;
                int q = nib | (((block[16 + l] >> j) & 1) << 4);
                Assert.Equal(s_sc[j] * q - 0.5f * s_m[j], x[32 * j + l]);
            }
    }

    [Fact]
    public void Q6_K_HandMadeBlock_DecodesPerGgmlLayout()
    {
        var block = new byte[210];
        for (int i = 0; i < 128; i++) block[i] = (byte)(i * 29 + 3);
        for (int i = 0; i < 64; i++) block[128 + i] = (byte)(i * 53 + 7);
        for (int j = 0; j < 16; j++) block[192 + j] = (byte)(sbyte)(j - 8);
        block[208] = 0x00; block[209] = 0x38;  // d = 0.5
        var x = new float[256];
        Quant.DequantizeRow(GgmlType.Q6_K, block, x);
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                int ql0 = block[64 * h + l], ql1 = block[64 * h + l + 32], qh = block[128 + 32 * h + l];
                int[] q = [(ql0 & 0xF) | ((qh & 3) << 4), (ql1 & 0xF) | (((qh >> 2) & 3) << 4), (ql0 >> 4) | (((qh >> 4) & 3) << 4), (ql1 >> 4) | ((qh >> 6) << 4)];
                for (int g = 0; g < 4; g++)
                {
                    int e = 128 * h + 32 * g + l;
                    Assert.Equal(0.5f * (e / 16 - 8) * (q[g] - 32), x[e]);
                }
            }
    }

    [Fact]
    public void Q8_K_Quantize_SumsAndRange()
    {
        var rng = new Random(3);
        var x = Floats(rng, 512, 3f);
        var y = new byte[2 * 292];
        Quant.QuantizeRow(GgmlType.Q8_K, x, y);
        for (int b = 0; b < 2; b++)
        {
            var blk = y.AsSpan(b * 292, 292);
            float d = MemoryMarshal.Read<float>(blk);
            var qs = MemoryMarshal.Cast<byte, sbyte>(blk.Slice(4, 256));
            var bsums = MemoryMarshal.Cast<byte, short>(blk.Slice(260, 32));
            for (int i = 0; i < 16; i++)
            {
                int s = 0;
                for (int l = 0; l < 16; l++) s += qs[16 * i + l];
                Assert.Equal(s, bsums[i]);
            }
            for (int l = 0; l < 256; l++)
            {
                Assert.InRange(qs[l], -127, 127);
                Assert.True(Math.Abs(x[256 * b + l] - d * qs[l]) <= 0.5001 * d, "q8_k rounding");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void QuantizeDequantize_WithinBudget(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(20 + (int)type);
        int n = 256 * 12;
        var x = Floats(rng, n);
        // Vary the scale across sub-blocks, include an all-zero, an all-positive and an all-negative sub-block.
        for (int i = 0; i < n; i++) x[i] *= 0.05f + (i / 32 % 7);
        for (int i = 0; i < 32; i++) { x[256 + i] = 0f; x[512 + i] = Math.Abs(x[512 + i]) + 1f; x[1024 + i] = -Math.Abs(x[1024 + i]) - 2f; }
        var y = new byte[GgmlTypes.Traits(type).RowBytes(n)];
        Quant.QuantizeRow(type, x, y);
        var back = new float[n];
        Quant.DequantizeRow(type, y, back);
        int bb = GgmlTypes.Traits(type).BlockBytes;
        double errSq = 0, sq = 0;
        for (int i = 0; i < n; i++)
        {
            var blk = y.AsSpan(i / 256 * bb, bb);
            double step;
            if (type == GgmlType.Q6_K) step = Quant.Fp16ToFp32(MemoryMarshal.Read<ushort>(blk[208..])) * Math.Abs((sbyte)blk[192 + i % 256 / 16]);
            else
            {
                fixed (byte* p = blk) step = Quant.Fp16ToFp32(MemoryMarshal.Read<ushort>(blk)) * Quant.ScaleMinK4(p + 4, i % 256 / 32).Scale;
            }
            double err = Math.Abs(x[i] - back[i]);
            double bound = type == GgmlType.Q6_K ? 1.6 : 1.0;
            Assert.True(err <= bound * step + 1e-6, $"{type} [{i}] x {x[i]} back {back[i]} step {step}");
            errSq += err * err;
            sq += (double)x[i] * x[i];
        }
        var uni = Floats(new Random(5), n);
        Quant.QuantizeRow(type, uni, y);
        Quant.DequantizeRow(type, y, back);
        errSq = 0; sq = 0;
        for (int i = 0; i < n; i++) { errSq += Math.Pow(uni[i] - back[i], 2); sq += (double)uni[i] * uni[i]; }
        double rel = Math.Sqrt(errSq / sq);
        double budget = type switch { GgmlType.Q4_K => 0.06, GgmlType.Q5_K => 0.03, _ => 0.015 };
        Assert.True(rel < budget, $"{type} uniform: relative RMS error {rel:F4} >= {budget}");
        var gau = new float[n];
        var gr = new Random(6);
        for (int i = 0; i < n; i++) gau[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - gr.NextDouble())) * Math.Cos(2 * Math.PI * gr.NextDouble()));
        Quant.QuantizeRow(type, gau, y);
        Quant.DequantizeRow(type, y, back);
        errSq = 0; sq = 0;
        for (int i = 0; i < n; i++) { errSq += Math.Pow(gau[i] - back[i], 2); sq += (double)gau[i] * gau[i]; }
        rel = Math.Sqrt(errSq / sq);
        budget = type switch { GgmlType.Q4_K => 0.08, GgmlType.Q5_K => 0.04, _ => 0.02 };
        Assert.True(rel < budget, $"{type} normal: relative RMS error {rel:F4} >= {budget}");
    }

    private static (byte[] W, byte[] X, float[] Wd, float[] Xd) Pair(GgmlType type, Random rng, int blocks)
    {
        int n = 256 * blocks;
        var wf = Floats(rng, n);
        var xf = Floats(rng, n, 2f);
        var w = new byte[GgmlTypes.Traits(type).RowBytes(n)];
        var x = new byte[blocks * 292];
        Quant.QuantizeRow(type, wf, w);
        Quant.QuantizeRowQ8_K(xf, x);
        var wd = new float[n];
        var xd = new float[n];
        Quant.DequantizeRow(type, w, wd);
        Quant.DequantizeRow(GgmlType.Q8_K, x, xd);
        return (w, x, wd, xd);
    }

    private static float Dot(GgmlType type, byte[] w, byte[] x, int blocks, bool reference) => (type, reference) switch
    {
        (GgmlType.Q4_K, false) => Quant.DotQ4_KQ8_K(w, x, blocks),
        (GgmlType.Q5_K, false) => Quant.DotQ5_KQ8_K(w, x, blocks),
        (GgmlType.Q6_K, false) => Quant.DotQ6_KQ8_K(w, x, blocks),
        (GgmlType.Q4_K, true) => Quant.DotQ4_KQ8_KReference(w, x, blocks),
        (GgmlType.Q5_K, true) => Quant.DotQ5_KQ8_KReference(w, x, blocks),
        _ => Quant.DotQ6_KQ8_KReference(w, x, blocks),
    };

    [Theory]
    [MemberData(nameof(Types))]
    public void Dot_SimdMatchesReference_AndDequantizedProduct(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(40 + (int)type);
        foreach (int blocks in s_blockCounts)
        {
            for (int rep = 0; rep < 3; rep++)
            {
                var (w, x, wd, xd) = Pair(type, rng, blocks);
                double abs = 0, exact = 0;
                for (int i = 0; i < wd.Length; i++) { abs += Math.Abs((double)wd[i] * xd[i]); exact += (double)wd[i] * xd[i]; }
                float fast = Dot(type, w, x, blocks, reference: false);
                float refv = Dot(type, w, x, blocks, reference: true);
                Close(refv, fast, 1e-5 * abs + 1e-6, $"{type} blocks {blocks} simd vs reference");
                Close((float)exact, refv, 1e-5 * abs + 1e-6, $"{type} blocks {blocks} reference vs dequantized");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatMul_ForwardMatchesReference(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(60 + (int)type);
        using var pool1 = new KernelThreadPool(1);
        using var pool3 = new KernelThreadPool(3);
        foreach (int k in new[] { 256, 512, 768 })
            foreach (int n in new[] { 1, 7, 33 })
                foreach (int t in new[] { 1, 3, 9, 70 })
                    Check(type, rng, n, k, t, (n + k + t) % 2 == 0 ? pool1 : pool3);
    }

    private static void Check(GgmlType type, Random rng, int n, int k, int t, KernelThreadPool pool)
    {
        var wSrc = Floats(rng, n * k);
        var wBytes = Matrix(type, wSrc, n, k);
        var x = Floats(rng, t * k, 2f);
        var yFast = new float[t * n];
        var yRef = new float[t * n];
        long scratchBytes = MatMul.ScratchBytes(type, k, t);
        Assert.Equal((long)t * (k / 256) * 292, scratchBytes);
        var scratch = new byte[scratchBytes];
        var wDeq = new float[n * k];
        int rowBytes = wBytes.Length / n;
        for (int r = 0; r < n; r++) Quant.DequantizeRow(type, wBytes.AsSpan(r * rowBytes, rowBytes), wDeq.AsSpan(r * k, k));
        fixed (byte* pw = wBytes)
        fixed (float* px = x, pyf = yFast, pyr = yRef)
        fixed (byte* ps = scratch)
        {
            var w = new TensorView(pw, type, n, k);
            MatMul.Forward(pool, pyf, px, w, t, ps);
            MatMul.ForwardReference(pyr, px, w, t, ps);
        }
        for (int tok = 0; tok < t; tok++)
            for (int r = 0; r < n; r++)
            {
                double abs = 0, exact = 0, sumW = 0;
                for (int i = 0; i < k; i++)
                {
                    abs += Math.Abs((double)wDeq[r * k + i] * x[tok * k + i]);
                    exact += (double)wDeq[r * k + i] * x[tok * k + i];
                    sumW += Math.Abs(wDeq[r * k + i]);
                }
                string what = $"{type} n {n} k {k} t {t} [{tok},{r}]";
                Close(yRef[tok * n + r], yFast[tok * n + r], 1e-5 * abs + 1e-6, what);
                // Only the Q8_K rounding of x remains: half a step of amax/127 per element, amax <= 2.
                Close((float)exact, yRef[tok * n + r], 2.0 / 254 * sumW + 1e-4, what + " vs exact");
            }
    }
}
