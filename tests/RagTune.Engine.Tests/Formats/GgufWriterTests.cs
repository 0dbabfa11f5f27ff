using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Formats;

public sealed class GgufWriterTests
{
    private static GgufValue Arr(GgufValueType t, Array a) => GgufValue.FromArray(t, a);

    // Every value type, as a scalar and as an array, plus nested arrays, unicode and empty values.
    private static GgufWriter WriterWithAllMetadata()
    {
        var w = new GgufWriter();
        w.Set("t.u8", GgufValue.FromUInt8(250));
        w.Set("t.i8", GgufValue.FromInt8(-120));
        w.Set("t.u16", GgufValue.FromUInt16(65000));
        w.Set("t.i16", GgufValue.FromInt16(-32000));
        w.SetUInt32("t.u32", 4_000_000_000);
        w.SetInt32("t.i32", -2_000_000_000);
        w.SetFloat32("t.f32", -1.5e-7f);
        w.SetBool("t.bool", true);
        w.SetString("t.str", "héllo ☃ 𝄞 日本語 \n\"quoted\"");
        w.SetString("t.empty", "");
        w.SetUInt64("t.u64", ulong.MaxValue);
        w.Set("t.i64", GgufValue.FromInt64(long.MinValue));
        w.Set("t.f64", GgufValue.FromFloat64(Math.PI));
        w.Set("a.u8", Arr(GgufValueType.UInt8, new byte[] { 0, 1, 255 }));
        w.Set("a.i8", Arr(GgufValueType.Int8, new sbyte[] { -128, 127 }));
        w.Set("a.u16", Arr(GgufValueType.UInt16, new ushort[] { 1, 65535 }));
        w.Set("a.i16", Arr(GgufValueType.Int16, new short[] { -1, 2 }));
        w.Set("a.u32", Arr(GgufValueType.UInt32, new uint[] { 7, uint.MaxValue }));
        w.SetInt32Array("a.i32", [-5, 0, 5]);
        w.SetFloat32Array("a.f32", [1.25f, float.NaN, float.NegativeInfinity]);
        w.Set("a.bool", Arr(GgufValueType.Bool, new[] { true, false, true }));
        w.SetStringArray("a.str", ["a", "", "Ġ t", "日本", "🦙"]);
        w.Set("a.u64", Arr(GgufValueType.UInt64, new ulong[] { 0, ulong.MaxValue }));
        w.Set("a.i64", Arr(GgufValueType.Int64, new long[] { long.MinValue, 3 }));
        w.Set("a.f64", Arr(GgufValueType.Float64, new[] { 0.1, -2.5 }));
        w.SetInt32Array("a.empty", []);
        w.Set("a.nested", Arr(GgufValueType.Array, new[]
        {
            Arr(GgufValueType.Int32, new[] { 1, 2, 3 }),
            Arr(GgufValueType.String, new[] { "x", "ÿ" }),
            Arr(GgufValueType.Array, new[] { Arr(GgufValueType.Float32, new[] { 9f }) }),
            Arr(GgufValueType.UInt8, Array.Empty<byte>()),
        }));
        return w;
    }

    // Odd shapes of every type with a block size the traits table knows, supported by the engine or not.
    private static readonly (string Name, GgmlType Type, long[] Dims)[] s_tensors =
    [
        ("f32.odd", GgmlType.F32, [7, 3]),
        ("f32.vec", GgmlType.F32, [5]),
        ("f16.odd", GgmlType.F16, [13, 1, 3]),
        ("bf16.4d", GgmlType.BF16, [3, 2, 2, 5]),
        ("q8_0", GgmlType.Q8_0, [96, 3]),
        ("q4_0", GgmlType.Q4_0, [32, 7]),
        ("q4_k", GgmlType.Q4_K, [256, 2]),
        ("i32", GgmlType.I32, [9]),
        ("empty", GgmlType.F32, [4, 0]),
    ];

    private static byte[] TensorBytes(int seed, long length)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static GgufWriter FullWriter(uint? alignment = null)
    {
        var w = WriterWithAllMetadata();
        if (alignment is { } a) w.SetUInt32(GgufFile.AlignmentKey, a);
        for (var i = 0; i < s_tensors.Length; i++)
        {
            var (name, type, dims) = s_tensors[i];
            w.AddTensor(name, type, dims, TensorBytes(i, new GgufTensorInfo(name, type, dims, 0).ByteLength));
        }
        return w;
    }

    [Theory]
    [InlineData(null)]
    [InlineData(64u)]
    [InlineData(1u)]
    public void Round_trip_keeps_metadata_and_tensors(uint? alignment)
    {
        using var dir = new TempDir();
        var path = dir.File("all.gguf");
        FullWriter(alignment).Write(path);

        using var f = GgufFile.Open(path);
        Assert.Equal(3u, f.Version);
        var expectedAlignment = (int)(alignment ?? 32);
        Assert.Equal(expectedAlignment, f.Alignment);
        Assert.Equal(0, f.DataOffset % expectedAlignment);
        Assert.Equal(WriterWithAllMetadata().MetadataKeys.Concat(alignment is null ? [] : [GgufFile.AlignmentKey]), f.MetadataKeys);

        Assert.Equal((byte)250, f.Metadata["t.u8"].Value);
        Assert.Equal((sbyte)-120, f.Metadata["t.i8"].Value);
        Assert.Equal((ushort)65000, f.Metadata["t.u16"].Value);
        Assert.Equal((short)-32000, f.Metadata["t.i16"].Value);
        Assert.Equal(4_000_000_000L, f.GetInt("t.u32"));
        Assert.Equal(-2_000_000_000L, f.GetInt("t.i32"));
        Assert.Equal(-1.5e-7f, f.GetFloat("t.f32"));
        Assert.True(f.GetBool("t.bool"));
        Assert.Equal("héllo ☃ 𝄞 日本語 \n\"quoted\"", f.GetString("t.str"));
        Assert.Equal("", f.GetString("t.empty"));
        Assert.Equal(ulong.MaxValue, f.Metadata["t.u64"].Value);
        Assert.Throws<ModelFormatException>(() => f.GetInt("t.u64"));
        Assert.Equal(long.MinValue, f.GetInt("t.i64"));
        Assert.Equal(Math.PI, f.Metadata["t.f64"].Value);
        Assert.Equal((float)Math.PI, f.GetFloat("t.f64"));

        Assert.Equal(new byte[] { 0, 1, 255 }, f.Metadata["a.u8"].Value);
        Assert.Equal(new sbyte[] { -128, 127 }, f.Metadata["a.i8"].Value);
        Assert.Equal(new ushort[] { 1, 65535 }, f.Metadata["a.u16"].Value);
        Assert.Equal(new short[] { -1, 2 }, f.Metadata["a.i16"].Value);
        Assert.Equal(new uint[] { 7, uint.MaxValue }, f.Metadata["a.u32"].Value);
        Assert.Throws<ModelFormatException>(() => f.GetIntArray("a.u32"));
        Assert.Equal([-5, 0, 5], f.GetIntArray("a.i32")!);
        Assert.Equal([0, 1, 255], f.GetIntArray("a.u8")!);
        var floats = f.GetFloatArray("a.f32")!;
        Assert.Equal(1.25f, floats[0]);
        Assert.True(float.IsNaN(floats[1]));
        Assert.Equal(float.NegativeInfinity, floats[2]);
        Assert.Equal(new[] { true, false, true }, f.Metadata["a.bool"].Value);
        Assert.Equal(["a", "", "Ġ t", "日本", "🦙"], f.GetStringArray("a.str")!);
        Assert.Equal(new ulong[] { 0, ulong.MaxValue }, f.Metadata["a.u64"].Value);
        Assert.Equal(new long[] { long.MinValue, 3 }, f.Metadata["a.i64"].Value);
        Assert.Equal([0.1f, -2.5f], f.GetFloatArray("a.f64")!);
        Assert.Empty(f.GetIntArray("a.empty")!);

        var nested = f.Metadata["a.nested"];
        Assert.Equal(GgufValueType.Array, nested.ArrayElementType);
        var items = Assert.IsType<GgufValue[]>(nested.Value);
        Assert.Equal(4, items.Length);
        Assert.Equal(new[] { 1, 2, 3 }, items[0].Value);
        Assert.Equal(new[] { "x", "ÿ" }, items[1].Value);
        var inner = Assert.IsType<GgufValue[]>(items[2].Value);
        Assert.Equal(new[] { 9f }, inner[0].Value);
        Assert.Equal(GgufValueType.UInt8, items[3].ArrayElementType);
        Assert.Empty((byte[])items[3].Value);

        Assert.Equal(s_tensors.Length, f.Tensors.Count);
        for (var i = 0; i < s_tensors.Length; i++)
        {
            var (name, type, dims) = s_tensors[i];
            var t = f.Tensors[i];
            Assert.Equal(name, t.Name);
            Assert.Equal(type, t.Type);
            Assert.Equal(dims, t.Dims);
            Assert.Equal(0, t.Offset % expectedAlignment);
            Assert.True(f.GetTensorBytes(t).SequenceEqual(TensorBytes(i, t.ByteLength)), name);
            var view = f.GetTensor(name);
            Assert.Equal(dims[0], view.Cols);
            Assert.Equal(t.Rows, view.Rows);
        }
        Assert.Equal(9L * 4 * 1, f.Tensors.Single(t => t.Name == "i32").ByteLength);
        Assert.Equal(3 * 3 * 34L, f.Tensors.Single(t => t.Name == "q8_0").ByteLength);
        Assert.Equal(3, f.GetTensor("f16.odd").Rows);
        Assert.Equal(20, f.GetTensor("bf16.4d").Rows);
        Assert.Equal(0, f.GetTensor("empty").Rows);
    }

    [Fact]
    public void Writing_twice_gives_identical_bytes()
    {
        using var dir = new TempDir();
        FullWriter().Write(dir.File("a.gguf"));
        FullWriter().Write(dir.File("b.gguf"));
        Assert.Equal(File.ReadAllBytes(dir.File("a.gguf")), File.ReadAllBytes(dir.File("b.gguf")));
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void Custom_alignment_pads_header_and_every_tensor()
    {
        using var dir = new TempDir();
        var path = dir.File("a64.gguf");
        FullWriter(64).Write(path);
        using var f = GgufFile.Open(path);
        Assert.Equal(64, f.Alignment);
        Assert.Equal(0, f.FileSize % 64);
        for (var i = 1; i < f.Tensors.Count; i++)
            Assert.Equal(GgufFile.AlignUp(f.Tensors[i - 1].Offset + f.Tensors[i - 1].ByteLength, 64), f.Tensors[i].Offset);
    }

    [Fact]
    public void Rewriting_stories260K_from_the_reader_is_byte_identical()
    {
        using var dir = new TempDir();
        var path = dir.File("copy.gguf");
        using (var source = GgufFile.Open(GgufFileTests.Stories260KGguf))
            GgufWriter.CopyOf(source).Write(path);
        Assert.Equal(File.ReadAllBytes(GgufFileTests.Stories260KGguf), File.ReadAllBytes(path));
    }

    [Fact]
    public void Resetting_a_key_replaces_it_in_place()
    {
        var w = new GgufWriter();
        w.SetString("a", "1");
        w.SetUInt32("b", 2);
        w.SetInt32("a", 3);
        Assert.Equal(["a", "b"], w.MetadataKeys);
        using var dir = new TempDir();
        w.Write(dir.File("k.gguf"));
        using var f = GgufFile.Open(dir.File("k.gguf"));
        Assert.Equal(3, f.GetInt("a"));
        Assert.Equal(GgufValueType.Int32, f.Metadata["a"].Type);
    }

    [Fact]
    public void Streamed_tensor_data_is_written_in_place()
    {
        using var dir = new TempDir();
        var w = new GgufWriter();
        w.AddTensor("big", GgmlType.F32, [1000, 3], s =>
        {
            for (var i = 0; i < 3000; i++) s.Write(BitConverter.GetBytes((float)i));
        });
        w.Write(dir.File("s.gguf"));
        using var f = GgufFile.Open(dir.File("s.gguf"));
        var v = f.GetTensor("big").AsFloats();
        Assert.Equal(3000, v.Length);
        Assert.Equal(2999f, v[2999]);
    }

    [Fact]
    public void Invalid_tensors_are_rejected_when_added()
    {
        var w = new GgufWriter();
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", GgmlType.F32, [3, 2], new byte[23]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", GgmlType.Q8_0, [33], new byte[34]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", (GgmlType)99, [1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", GgmlType.F32, [1, 1, 1, 1, 1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", GgmlType.F32, [-1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('n', 64), GgmlType.F32, [1], new byte[4]));
        w.AddTensor("x", GgmlType.F32, [1], new byte[4]);
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", GgmlType.F32, [1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.SetUInt32(GgufFile.AlignmentKey, 48));
        Assert.Throws<ArgumentException>(() => w.SetInt32(GgufFile.AlignmentKey, 64));
        Assert.Throws<ArgumentException>(() => GgufValue.FromArray(GgufValueType.Int32, new uint[1]));
    }

    [Fact]
    public void A_failed_write_leaves_the_previous_file_and_no_temporary()
    {
        using var dir = new TempDir();
        var path = dir.File("model.gguf");
        File.WriteAllText(path, "previous");
        var w = new GgufWriter();
        w.AddTensor("short", GgmlType.F32, [4], s => s.Write(new byte[12]));
        var ex = Assert.Throws<InvalidOperationException>(() => w.Write(path));
        Assert.Contains("short", ex.Message);
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir.Path));

        var throwing = new GgufWriter();
        throwing.AddTensor("boom", GgmlType.F32, [1], _ => throw new IOException("disk full"));
        Assert.Throws<IOException>(() => throwing.Write(path));
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Value_display_is_short()
    {
        Assert.Equal("[3 items: 1, 2, 3]", GgufValue.FromArray(GgufValueType.Int32, new[] { 1, 2, 3 }).ToString());
        Assert.Equal("[5 items: 1, 2, 3, …]", GgufValue.FromArray(GgufValueType.Int32, new[] { 1, 2, 3, 4, 5 }).ToString());
        Assert.Equal("[1 item: \"a\\nb\"]", GgufValue.FromArray(GgufValueType.String, new[] { "a\nb" }).ToString());
        Assert.Equal("[0 items]", GgufValue.FromArray(GgufValueType.Float32, Array.Empty<float>()).ToString());
        Assert.Equal("true", GgufValue.FromBool(true).ToString());
        Assert.Equal("1E-05", GgufValue.FromFloat32(1e-5f).ToString());
        Assert.EndsWith("…", GgufValue.FromString(new string('x', 100)).ToString());
        Assert.Equal("[2 items: [1 item: 1], [0 items]]", GgufValue.FromArray(GgufValueType.Array, new[]
        {
            GgufValue.FromArray(GgufValueType.UInt8, new byte[] { 1 }),
            GgufValue.FromArray(GgufValueType.UInt8, Array.Empty<byte>()),
        }).ToString());
    }
}
