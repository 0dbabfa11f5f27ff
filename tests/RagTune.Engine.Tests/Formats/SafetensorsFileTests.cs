using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Tests.Formats;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ragtune-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Bytes(float[] x) => MemoryMarshal.AsBytes(x.AsSpan()).ToArray();

    [Fact]
    public void Writer_and_reader_round_trip_f32_f16_bf16_and_metadata()
    {
        var a = new float[] { 1, -2, 3.5f, 4, 5, 6 };
        var b = new float[] { 0.5f, -0.25f, 8 };
        var w = new SafetensorsWriter();
        w.SetMetadata("format", "pt");
        w.AddTensor("a", GgmlType.F32, [2, 3], Bytes(a));
        var half = new byte[6];
        Quant.QuantizeRow(GgmlType.F16, b, half);
        w.AddTensor("b.f16", GgmlType.F16, [3], half);
        var bf = new byte[6];
        Quant.QuantizeRow(GgmlType.BF16, b, bf);
        w.AddTensor("b.bf16", GgmlType.BF16, [3], bf);
        var path = Path.Combine(_dir, "m.safetensors");
        w.Write(path);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));

        var raw = File.ReadAllBytes(path);
        Assert.Equal(0UL, (BinaryPrimitives.ReadUInt64LittleEndian(raw) + 8) % 8); // data section 8-byte aligned

        using var f = SafetensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(["a", "b.f16", "b.bf16"], f.Tensors.Select(t => t.Name));
        Assert.True(f.TryGetTensor("a", out var va));
        Assert.Equal((2L, 3), (va.Rows, va.Cols));
        Assert.Equal(a, va.AsFloats().ToArray());
        foreach (var name in new[] { "b.f16", "b.bf16" })
        {
            Assert.True(f.TryGetTensor(name, out var vb));
            var back = new float[3];
            Quant.DequantizeRow(vb.Type, vb.Row(0), back);
            Assert.Equal(b, back);
        }
        Assert.False(f.TryGetTensor("missing", out _));
    }

    [Fact]
    public void Float_tensors_are_rounded_to_nearest_even_like_torch()
    {
        // Ties, subnormals, overflow to infinity and values of every magnitude: F16 must be the per-element (Half)
        // cast (IEEE round to nearest even, what torch's .half() does), BF16 the ggml/torch rounding of the top half.
        var rng = new Random(7);
        var values = new List<float> { 0f, -0f, 1f, 65504f, 65520f, 1e6f, -1e6f, 6e-8f, 3e-8f, 1e-5f, 1.0009765625f + 0.00048828125f, float.PositiveInfinity };
        for (int i = 0; i < 300; i++) values.Add((float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-30, 20))));
        var x = values.ToArray();
        var w = new SafetensorsWriter();
        w.AddTensor("f32", GgmlType.F32, [x.Length], x);
        w.AddTensor("f16", GgmlType.F16, [3, x.Length / 3], x);
        w.AddTensor("bf16", GgmlType.BF16, [x.Length], x);
        Assert.Throws<ArgumentException>(() => w.AddTensor("short", GgmlType.F32, [x.Length + 1], x));
        Assert.Throws<ArgumentException>(() => w.AddTensor("q8", GgmlType.Q8_0, [32], new float[32]));
        var path = Path.Combine(_dir, "floats.safetensors");
        w.Write(path);

        using var f = SafetensorsFile.Open(path);
        Assert.Equal(Bytes(x), f.GetBytes(f.Find("f32")!).ToArray());
        var half = MemoryMarshal.Cast<byte, ushort>(f.GetBytes(f.Find("f16")!));
        var bf16 = MemoryMarshal.Cast<byte, ushort>(f.GetBytes(f.Find("bf16")!));
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)x[i]), half[i]);
            Assert.Equal(Quant.Fp32ToBf16(x[i]), bf16[i]);
        }
        Assert.True(f.TryGetTensor("f16", out var v));
        Assert.Equal((3L, x.Length / 3, GgmlType.F16), (v.Rows, v.Cols, v.Type));
    }

    [Fact]
    public void Identical_input_gives_identical_bytes()
    {
        byte[] Make()
        {
            var w = new SafetensorsWriter();
            w.AddTensor("x", GgmlType.F32, [4], Bytes([1, 2, 3, 4]));
            var p = Path.Combine(_dir, Guid.NewGuid() + ".safetensors");
            w.Write(p);
            return File.ReadAllBytes(p);
        }
        Assert.Equal(Make(), Make());
    }

    // A file with a hand-written header over `data` bytes.
    private string Raw(string header, int dataBytes, ulong? lengthOverride = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lengthOverride ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        var path = Path.Combine(_dir, Guid.NewGuid() + ".safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}""", 8, "past the end of the data section")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}""", 16, "needs 24 bytes")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 16, "not an increasing pair")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 16, "overlap")]
    [InlineData("""{"w":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}""", 8, "dtype 'Q9' is unknown")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "not a non-negative integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2]}}""", 8, "data_offsets")]
    [InlineData("""{"w": [1,2""", 8, "JSON header is invalid")]
    public void A_header_that_lies_fails_naming_the_file_and_tensor(string header, int data, string expected)
    {
        var path = Raw(header, data);
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(expected, e.Message);
        Assert.Contains(Path.GetFileName(path), e.Message);
        if (header.EndsWith('}')) Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void A_header_length_beyond_the_file_fails()
    {
        var path = Raw("{}", 0, lengthOverride: 1000);
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains("header length field says 1000 bytes", e.Message);
        var tiny = Path.Combine(_dir, "tiny.safetensors");
        File.WriteAllBytes(tiny, [1, 2, 3]);
        Assert.Contains("8-byte header length", Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(tiny).Dispose()).Message);
    }

    [Fact]
    public void Unsupported_dtype_is_named_when_the_tensor_is_used()
    {
        var path = Raw("""{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8);
        using var f = SafetensorsFile.Open(path);
        var e = Assert.Throws<ModelFormatException>(() => f.TryGetTensor("ids", out _));
        Assert.Contains("'ids'", e.Message);
        Assert.Contains("I64", e.Message);
    }
}
