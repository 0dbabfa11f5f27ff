using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;
using RagTune.TestKit;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

// The kernel traits table (Quant.Traits): it must know every type the GGUF reader accepts with the reader's sizes, and
// every row dot it holds must equal the float dot of the dequantized rows. Budget: 1e-5 * sum|w x| (block sums are
// integers, exact; only the float accumulation order differs), the budget of the per-type dot tests.
[Trait("Category", "Kernels")]
public sealed unsafe class QuantTraitsTests
{
    private static IEnumerable<GgmlType> KnownTypes() =>
        Enumerable.Range(0, 256).Where(raw => GgmlTypes.IsKnown((uint)raw)).Select(raw => (GgmlType)raw);

    public static TheoryData<string> DotTypes()
    {
        var data = new TheoryData<string>();
        foreach (var t in KnownTypes())
            if (Quant.Traits(t).VecDot != null) data.Add(GgmlTypes.Traits(t).Name);
        return data;
    }

    [Fact]
    public void Table_CoversEveryTypeTheGgufReaderAccepts_WithItsSizes()
    {
        // One tensor of every type ggml defines, 3 blocks by 2 rows, through the writer and back through the reader.
        var w = new GgufWriter();
        var rng = new Random(1);
        foreach (var type in KnownTypes())
        {
            long[] dims = [3L * GgmlTypes.Traits(type).BlockSize, 2];
            var bytes = new byte[new GgufTensorInfo("x", type, dims, 0).ByteLength];
            rng.NextBytes(bytes);
            w.AddTensor(GgmlTypes.Traits(type).Name, type, dims, bytes);
        }
        using var dir = new TempDir();
        var path = dir.File("every-type.gguf");
        w.Write(path);
        using var f = GgufFile.Open(path);

        Assert.Equal(KnownTypes().Count(), f.Tensors.Count);
        foreach (var info in f.Tensors)
        {
            ref readonly var traits = ref Quant.Traits(info.Type);
            var sizes = GgmlTypes.Traits(info.Type);
            Assert.Equal(info.Type, traits.Type);
            Assert.Equal(sizes.BlockSize, traits.BlockSize);
            Assert.Equal(sizes.BlockBytes, traits.BlockBytes);
            Assert.Equal(f.GetTensorBytes(info).Length, traits.RowBytes(info.Dims[0]) * info.Rows);
        }
        for (int raw = 0; raw < 300; raw++)
            if (!GgmlTypes.IsKnown((uint)raw)) Assert.Equal(0, Quant.Traits((GgmlType)raw).BlockSize);
    }

    [Fact]
    public void Table_KernelsAreComplete_ForEverySupportedType()
    {
        foreach (var type in KnownTypes())
        {
            ref readonly var t = ref Quant.Traits(type);
            string what = GgmlTypes.Traits(type).Name;
            // The size table's "engine computes with it" and the kernel table's "has a row dot" are the same list.
            Assert.True(GgmlTypes.Traits(type).Supported == (t.VecDot != null), $"{what}: Supported disagrees with the row dot");
            Assert.True(t.FromFloat == null == (t.FromFloatReference == null), $"{what}: a quantizer without its reference");
            if (t.VecDot == null) continue;
            Assert.True(t.VecDotReference != null && t.FromFloat != null && t.ToFloat != null, $"{what}: incomplete kernels");
            ref readonly var partner = ref Quant.Traits(t.VecDotType);
            Assert.True(partner.FromFloat != null && partner.FromFloatReference != null && partner.ToFloat != null, $"{what}: partner {t.VecDotType} has no quantizer");
            Assert.Equal(t.BlockSize, partner.BlockSize);
        }
    }

    [Theory]
    [MemberData(nameof(DotTypes))]
    public void RowDot_EqualsFloatDotOfDequantizedRows(string typeName)
    {
        var type = GgmlTypes.Parse(typeName);
        ref readonly var t = ref Quant.Traits(type);
        ref readonly var partner = ref Quant.Traits(t.VecDotType);
        var rng = new Random(70 + (int)type);
        foreach (int blocks in new[] { 0, 1, 2, 3, 5, 9, 17 })
        {
            for (int rep = 0; rep < 3; rep++)
            {
                int n = blocks * t.BlockSize * (t.BlockSize == 1 ? 37 : 1);   // float types: odd lengths up to 629
                var w = new byte[t.RowBytes(n)];
                var x = new byte[partner.RowBytes(n)];
                var wd = new float[n];
                var xd = new float[n];
                t.FromFloat(Floats(rng, n, 3f), w);
                partner.FromFloat(Floats(rng, n, 2f), x);
                t.ToFloat(w, wd);
                partner.ToFloat(x, xd);
                double exact = 0, abs = 0;
                for (int i = 0; i < n; i++) { exact += (double)wd[i] * xd[i]; abs += Math.Abs((double)wd[i] * xd[i]); }
                float fast, reference;
                fixed (byte* pw = w)
                fixed (byte* px = x)
                {
                    fast = t.VecDot(pw, px, n);
                    reference = t.VecDotReference(pw, px, n);
                }
                Close((float)exact, reference, 1e-5 * abs + 1e-6, $"{typeName} n {n} reference vs dequantized");
                Close((float)exact, fast, 1e-5 * abs + 1e-6, $"{typeName} n {n} row dot vs dequantized");
            }
        }
    }

    [Fact]
    public void UnsupportedType_FailsOnce_NamingTheTypeAndTheAlternatives()
    {
        var q = Assert.Throws<NotSupportedException>(() => Quant.QuantizeRow(GgmlType.Q4_1, new float[32], new byte[20]));
        var d = Assert.Throws<NotSupportedException>(() => Quant.DequantizeRow(GgmlType.IQ4_XS, new byte[136], new float[256]));
        Assert.Contains("q4_1", q.Message);
        Assert.Contains("iq4_xs", d.Message);
        Assert.Contains("q8_0", q.Message);
        Assert.Equal(0, MatMul.ScratchBytes(GgmlType.Q4_1, 32, 1));
        var m = Assert.Throws<NotSupportedException>(() => Multiply(GgmlType.Q4_1, 32, reference: false));
        var r = Assert.Throws<NotSupportedException>(() => Multiply(GgmlType.Q4_1, 32, reference: true));
        Assert.Contains("q4_1", m.Message);
        Assert.Equal(m.Message, r.Message);
        // Q8_K is only an activation partner: it quantizes and reads, but there are no Q8_K weights to multiply.
        var k = Assert.Throws<NotSupportedException>(() => Multiply(GgmlType.Q8_K, 256, reference: false));
        Assert.Contains("q8_k", k.Message);
    }

    /// <summary>One row of <paramref name="type"/> (zero bytes) times one token, through MatMul.</summary>
    private static void Multiply(GgmlType type, int k, bool reference)
    {
        var bytes = new byte[GgmlTypes.Traits(type).RowBytes(k)];
        var x = new float[k];
        var y = new float[1];
        using var pool = new KernelThreadPool(1);
        fixed (byte* pb = bytes)
        fixed (float* px = x, py = y)
        {
            var view = new TensorView(pb, type, 1, k);
            if (reference) MatMul.ForwardReference(py, px, view, 1, null);
            else MatMul.Forward(pool, py, px, view, 1, null);
        }
    }
}
