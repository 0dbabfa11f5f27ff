using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

[Trait("Category", "Kernels")]
public sealed class QuantTests
{
    private static readonly int[] s_blockCounts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 18, 48, 257];

    // ------------------------------------------------------------ byte layouts, checked by hand

    [Fact]
    public void Q8_0_OneToThirtyTwo_HasGgmlBytes()
    {
        var x = Enumerable.Range(1, 32).Select(i => (float)i).ToArray();
        var y = new byte[34];
        Quant.QuantizeRowQ8_0(x, y);
        // d = 32/127 = 0.25197 = 1.00787 * 2^-2 -> fp16 exponent 13, mantissa round(0.00787*1024) = 8 -> 0x3408.
        Assert.Equal(0x08, y[0]);
        Assert.Equal(0x34, y[1]);
        Assert.Equal(4, (sbyte)y[2]);        // round(1 * 127/32 = 3.97)
        Assert.Equal(127, (sbyte)y[33]);     // the maximum maps to 127
        for (int j = 0; j < 32; j++)
        {
            double exact = (j + 1) * 127.0 / 32;
            if (Math.Abs(exact - Math.Floor(exact) - 0.5) > 1e-3)
                Assert.Equal((int)Math.Round(exact, MidpointRounding.AwayFromZero), (sbyte)y[2 + j]);
        }
        var back = new float[32];
        Quant.DequantizeRow(GgmlType.Q8_0, y, back);
        for (int j = 0; j < 32; j++) Assert.Equal(x[j], back[j], 0.13f);
    }

    [Fact]
    public void Q4_0_OneToThirtyTwo_HasGgmlBytes()
    {
        var x = Enumerable.Range(1, 32).Select(i => (float)i).ToArray();
        var y = new byte[18];
        Quant.QuantizeRowQ4_0(x, y);
        // max = 32, d = 32 / -8 = -4 -> fp16 0xC400; q_j = (int)(8.5 - x_j / 4).
        Assert.Equal(0x00, y[0]);
        Assert.Equal(0xC4, y[1]);
        Assert.Equal(0x48, y[2]);            // element 0: (int)8.25 = 8 (low); element 16: (int)4.25 = 4 (high)
        Assert.Equal(0x04, y[17]);           // element 15: (int)4.5 = 4 (low); element 31: (int)0.5 = 0 (high)
    }

    [Fact]
    public void Q4_0_HandMadeBlock_LowNibbleIsElementI_HighNibbleIsElementIPlus16()
    {
        var block = new byte[18];
        block[0] = 0x00; block[1] = 0x3C;    // d = 1.0
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | ((15 - j) << 4));
        var x = new float[32];
        Quant.DequantizeRow(GgmlType.Q4_0, block, x);
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal(j - 8, x[j]);
            Assert.Equal(7 - j, x[j + 16]);
        }

        // The dot with a Q8_0 row of ones (d = 1) is the sum of the elements: sum(j-8) + sum(7-j) = 0 ... use weights 1..32.
        var ones = new byte[34];
        ones[0] = 0x00; ones[1] = 0x3C;
        for (int j = 0; j < 32; j++) ones[2 + j] = (byte)(sbyte)(j + 1);
        float expected = 0;
        for (int j = 0; j < 32; j++) expected += x[j] * (j + 1);
        Assert.Equal(expected, Quant.DotQ4_0Q8_0Reference(block, ones, 1));
        Assert.Equal(expected, Quant.DotQ4_0Q8_0(block, ones, 1));
    }

    [Fact]
    public void Bf16_RoundsToNearestEven_AndKeepsNaN()
    {
        Assert.Equal(0x3F80, Quant.Fp32ToBf16(BitConverter.UInt32BitsToSingle(0x3F808000)));  // tie, even stays
        Assert.Equal(0x3F82, Quant.Fp32ToBf16(BitConverter.UInt32BitsToSingle(0x3F818000)));  // tie, odd rounds up
        Assert.Equal(0x3F81, Quant.Fp32ToBf16(BitConverter.UInt32BitsToSingle(0x3F808001)));  // above tie
        Assert.True(float.IsNaN(Quant.Bf16ToFp32(Quant.Fp32ToBf16(float.NaN))));
        Assert.Equal(float.PositiveInfinity, Quant.Bf16ToFp32(Quant.Fp32ToBf16(float.PositiveInfinity)));
    }

    [Fact]
    public void Fp16ToFp32_MatchesHalf_ForEveryBitPattern()
    {
        for (int h = 0; h < 65536; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float actual = Quant.Fp16ToFp32((ushort)h);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{h:X4}");
            else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"0x{h:X4}: {expected} vs {actual}");
        }
    }

    [Fact]
    public void DotF16F32_SimdConversion_IsExactForEveryFiniteHalf()
    {
        // x = e_0 makes the dot the converted half itself; n = 32 runs the widest vector path.
        var x = new float[32];
        x[0] = 1f;
        var w = new byte[64];
        for (int h = 0; h < 65536; h++)
        {
            if ((h & 0x7C00) == 0x7C00) continue;  // inf / NaN times the zero lanes is NaN by definition
            w[0] = (byte)h; w[1] = (byte)(h >> 8);
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            Assert.True(BitConverter.SingleToUInt32Bits(expected + 0f) == BitConverter.SingleToUInt32Bits(Quant.DotF16F32(w, x) + 0f), $"0x{h:X4}");
        }
    }

    // ------------------------------------------------------------ quantize: fast == reference, error budgets

    [Fact]
    public void QuantizeRowQ8_0_IsByteIdenticalToReference_IncludingTies()
    {
        var rng = new Random(1);
        foreach (int blocks in s_blockCounts)
        {
            var x = Floats(rng, blocks * 32, 3f);
            if (blocks > 0)
            {
                // amax = 127 makes d = 1 and id = 1: every .5 below is an exact tie that roundf sends away from zero.
                x[0] = 127f;
                for (int j = 1; j < 32; j++) x[j] = (j - 16) + 0.5f;
            }
            if (blocks > 1) Array.Clear(x, 32, 32);  // an all-zero block: d = 0, id = 0
            var fast = new byte[blocks * 34];
            var reference = new byte[blocks * 34];
            Quant.QuantizeRowQ8_0(x, fast);
            Quant.QuantizeRowQ8_0Reference(x, reference);
            Assert.Equal(reference, fast);
        }
    }

    [Theory]
    [InlineData("q8_0", 1.0 / 254 + 1.0 / 1024)]   // half a step (amax/127/2) plus fp16 rounding of d
    [InlineData("q4_0", 1.0 / 8 + 1.0 / 256)]      // the +amax end clamps from 16 to 15: one step (amax/8)
    [InlineData("f16", 1.0 / 1024)]
    [InlineData("bf16", 1.0 / 128)]
    [InlineData("f32", 0.0)]
    public void QuantizeThenDequantize_StaysWithinBudget(string typeName, double budgetPerAmax)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(2);
        const int n = 32 * 40;
        var x = Floats(rng, n, 4f);
        for (int i = 0; i < n; i += 97) x[i] *= 20f;  // outliers, as real weights have
        var bytes = new byte[GgmlTypes.Traits(type).RowBytes(n)];
        Quant.QuantizeRow(type, x, bytes);
        var back = new float[n];
        Quant.DequantizeRow(type, bytes, back);
        for (int b = 0; b < n / 32; b++)
        {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(x[b * 32 + j]));
            for (int j = 0; j < 32; j++)
            {
                int i = b * 32 + j;
                double budget = type is GgmlType.Q8_0 or GgmlType.Q4_0 ? budgetPerAmax * amax : budgetPerAmax * Math.Abs(x[i]);
                Close(x[i], back[i], budget + 1e-30, $"{type} element {i}");
            }
        }
    }

    [Fact]
    public void QuantizeRow_RejectsPartialBlocks() =>
        Assert.Throws<InvalidDataException>(() => Quant.QuantizeRow(GgmlType.Q8_0, new float[33], new byte[68]));

    // ------------------------------------------------------------ dots: fast == reference

    // Fast and reference share the integer block sums exactly; only the order of the float accumulation differs,
    // so the tolerance is float rounding of a sum of |terms|.
    private const double DotRelTolerance = 1e-5;

    [Fact]
    public void DotQ8_0Q8_0_MatchesReference()
    {
        var rng = new Random(3);
        foreach (int blocks in s_blockCounts)
        {
            var w = new byte[blocks * 34];
            var x = new byte[blocks * 34];
            Quant.QuantizeRowQ8_0(Floats(rng, blocks * 32, 2f), w);
            Quant.QuantizeRowQ8_0(Floats(rng, blocks * 32, 5f), x);
            if (blocks > 0) Array.Fill(w, (byte)0x81, 2, 32);  // -127 everywhere: the extreme of the sign trick
            float expected = Quant.DotQ8_0Q8_0Reference(w, x, blocks);
            Close(expected, Quant.DotQ8_0Q8_0(w, x, blocks), DotRelTolerance * AbsDot(GgmlType.Q8_0, w, x, blocks) + 1e-6, $"q8_0 blocks {blocks}");
        }
    }

    [Fact]
    public void DotQ4_0Q8_0_MatchesReference()
    {
        var rng = new Random(4);
        foreach (int blocks in s_blockCounts)
        {
            var w = new byte[blocks * 18];
            var x = new byte[blocks * 34];
            Quant.QuantizeRowQ4_0(Floats(rng, blocks * 32, 2f), w);
            Quant.QuantizeRowQ8_0(Floats(rng, blocks * 32, 5f), x);
            if (blocks > 0) { Array.Fill(w, (byte)0xF0, 2, 8); Array.Fill(x, (byte)0x81, 2, 32); }  // nibble extremes vs -127
            float expected = Quant.DotQ4_0Q8_0Reference(w, x, blocks);
            Close(expected, Quant.DotQ4_0Q8_0(w, x, blocks), DotRelTolerance * AbsDot(GgmlType.Q4_0, w, x, blocks) + 1e-6, $"q4_0 blocks {blocks}");
        }
    }

    [Theory]
    [InlineData("f16")]
    [InlineData("bf16")]
    public void DotHalfF32_MatchesReference_ForEveryLength(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        var rng = new Random(5);
        for (int n = 0; n <= 257; n++)
        {
            var src = Floats(rng, n, 3f);
            var x = Floats(rng, n, 2f);
            var w = new byte[2 * n];
            Quant.QuantizeRow(type, src, w);
            float expected = type == GgmlType.F16 ? Quant.DotF16F32Reference(w, x) : Quant.DotBF16F32Reference(w, x);
            float actual = type == GgmlType.F16 ? Quant.DotF16F32(w, x) : Quant.DotBF16F32(w, x);
            double abs = 0;
            for (int i = 0; i < n; i++) abs += Math.Abs(src[i] * x[i]);
            Close(expected, actual, DotRelTolerance * abs + 1e-6, $"{type} n {n}");
        }
    }

    /// <summary>Σ |w_j x_j| over dequantized values: the scale of the float rounding error of a dot.</summary>
    private static double AbsDot(GgmlType wType, byte[] w, byte[] x, int blocks)
    {
        var wf = new float[blocks * 32];
        var xf = new float[blocks * 32];
        Quant.DequantizeRow(wType, w, wf);
        Quant.DequantizeRow(GgmlType.Q8_0, x, xf);
        double s = 0;
        for (int i = 0; i < wf.Length; i++) s += Math.Abs(wf[i] * xf[i]);
        return s;
    }

    [Fact]
    public void DequantizeRow_Bf16_IsTheTopHalfOfTheFloat_ForEveryLength()
    {
        var rng = new Random(7);
        for (int n = 0; n <= 257; n++)
        {
            var bits = new byte[2 * n];
            rng.NextBytes(bits);
            var back = new float[n];
            Quant.DequantizeRow(GgmlType.BF16, bits, back);
            for (int i = 0; i < n; i++)
                Assert.Equal((uint)(bits[2 * i] | (bits[2 * i + 1] << 8)) << 16, BitConverter.SingleToUInt32Bits(back[i]));
        }
    }

    [Fact]
    public void DequantizeRow_F32AndHalves_RoundTripExactly()
    {
        var rng = new Random(6);
        var x = Floats(rng, 77);
        var bytes = MemoryMarshal.AsBytes(x.AsSpan()).ToArray();
        var back = new float[77];
        Quant.DequantizeRow(GgmlType.F32, bytes, back);
        Assert.Equal(x, back);

        var h = new byte[154];
        Quant.QuantizeRow(GgmlType.F16, x, h);
        Quant.DequantizeRow(GgmlType.F16, h, back);
        for (int i = 0; i < 77; i++) Assert.Equal((float)(Half)x[i], back[i]);
    }
}
