using System.Diagnostics;
using System.Text;
using RagTune.Engine.Formats;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Formats;

/// <summary>Every malformed file must give a <see cref="ModelFormatException"/> naming the file: never a crash, a hang or a huge allocation.</summary>
public sealed class GgufBadInputTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Hand-assembles GGUF bytes, so tests can write what the writer refuses to.</summary>
    private sealed class RawGguf
    {
        private readonly MemoryStream _ms = new();
        private readonly BinaryWriter _w;

        public RawGguf(uint version = 3, ulong tensors = 0, ulong kvs = 0)
        {
            _w = new BinaryWriter(_ms);
            _w.Write("GGUF"u8);
            _w.Write(version);
            _w.Write(tensors);
            _w.Write(kvs);
        }

        public RawGguf U32(uint v) { _w.Write(v); return this; }
        public RawGguf U64(ulong v) { _w.Write(v); return this; }
        public RawGguf Str(string s) { var b = Encoding.UTF8.GetBytes(s); _w.Write((ulong)b.Length); _w.Write(b); return this; }
        public RawGguf Zeros(int n) { _w.Write(new byte[n]); return this; }

        public RawGguf PadTo(int alignment)
        {
            while (_ms.Length % alignment != 0) _w.Write((byte)0);
            return this;
        }

        /// <summary>A tensor info: name, dims, type, offset.</summary>
        public RawGguf Tensor(string name, ulong[] dims, uint type, ulong offset)
        {
            Str(name).U32((uint)dims.Length);
            foreach (var d in dims) U64(d);
            return U32(type).U64(offset);
        }

        public byte[] Bytes() => _ms.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        var path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private ModelFormatException AssertBad(byte[] bytes, params string[] expectedInMessage)
    {
        var path = Write("bad.gguf", bytes);
        var sw = Stopwatch.StartNew();
        var ex = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        Assert.Contains(path, ex.Message);
        Assert.Equal(path, ex.FilePath);
        foreach (var s in expectedInMessage) Assert.Contains(s, ex.Message, StringComparison.OrdinalIgnoreCase);
        return ex;
    }

    private static byte[] OneTensor(uint type = 0, ulong ne0 = 8, ulong offset = 0, int dataBytes = 32, int alignment = 32) =>
        new RawGguf(3, 1, 0).Tensor("blk.0.w", [ne0], type, offset).PadTo(alignment).Zeros(dataBytes).Bytes();

    [Fact]
    public void A_well_formed_hand_made_file_loads() => Write("ok.gguf", OneTensor()).Let(p =>
    {
        using var f = GgufFile.Open(p);
        Assert.Equal(8, f.GetTensor("blk.0.w").Cols);
    });

    [Fact]
    public void Empty_file() => AssertBad([], "empty");

    [Theory]
    [InlineData(new byte[] { (byte)'G', (byte)'G' }, "too short")]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'e', (byte)'r', (byte)'r', 0, 0, 0, 0 }, "not a GGUF file")]
    [InlineData(new byte[] { (byte)'t', (byte)'j', (byte)'g', (byte)'g', 1, 0, 0, 0 }, "pre-GGUF")]
    [InlineData(new byte[] { 0x32, 0x34, 0x6b, 0x61, 1, 0, 0, 0 }, "ak42")]
    public void Wrong_magic(byte[] bytes, string expected) => AssertBad(bytes, expected);

    [Fact]
    public void Llama2c_checkpoint_is_not_gguf() =>
        AssertBad(File.ReadAllBytes(LlamaCCheckpointTests.Stories260KBin), "not a GGUF file");

    [Theory]
    [InlineData(1u, "version 1 is not supported")]
    [InlineData(4u, "unsupported GGUF version 4")]
    [InlineData(0x03000000u, "big-endian")]
    [InlineData(0xFFFFFFFFu, "unsupported GGUF version")]
    public void Unsupported_versions(uint version, string expected) => AssertBad(new RawGguf(version).Bytes(), expected);

    [Theory]
    [InlineData(6)]        // inside the version
    [InlineData(12)]       // inside the tensor count
    [InlineData(24)]       // end of header, metadata missing
    [InlineData(30)]       // inside the first key's length
    [InlineData(60)]       // inside the first key
    [InlineData(5000)]     // inside the token strings
    [InlineData(10000)]    // inside the token scores/types
    [InlineData(13000)]    // inside the tensor infos
    [InlineData(14152)]    // right after the tensor infos, no data at all
    [InlineData(14176 + 100)]
    [InlineData(600000)]
    [InlineData(1185376 - 1)]
    public void Truncated_stories260K(int length)
    {
        var bytes = File.ReadAllBytes(GgufFileTests.Stories260KGguf)[..length];
        var ex = AssertBad(bytes, "truncated");
        if (length >= 14152)
            Assert.Contains("needs bytes up to", ex.Message);
        if (length == 1185376 - 1)
            Assert.Contains("blk.4.ffn_norm.weight", ex.Message);
    }

    [Fact]
    public void Huge_counts_and_lengths_fail_fast()
    {
        AssertBad(new RawGguf(3, 0, 1UL << 62).Bytes(), "metadata pairs");
        AssertBad(new RawGguf(3, 1UL << 62, 0).Bytes(), "tensors");
        AssertBad(new RawGguf(3, 0, 1).U64(0x7FFF_FFFF_FFFF_FFFF).Zeros(16).Bytes(), "metadata key #0", "claims");
        AssertBad(new RawGguf(3, 0, 1).U64(ulong.MaxValue).Zeros(16).Bytes(), "claims");
        AssertBad(new RawGguf(3, 0, 1).Str("k").U32(8).U64(1UL << 40).Zeros(16).Bytes(), "metadata 'k'", "claims");
        AssertBad(new RawGguf(3, 0, 1).Str("a").U32(9).U32(4).U64(1UL << 61).Zeros(16).Bytes(), "metadata 'a'", "elements");
        AssertBad(new RawGguf(3, 0, 1).Str("a").U32(9).U32(8).U64(ulong.MaxValue).Zeros(16).Bytes(), "elements");
        AssertBad(new RawGguf(3, 0, 1).Str("a").U32(9).U32(9).U64(1UL << 59).Zeros(16).Bytes(), "elements");
        AssertBad(new RawGguf(3, 0, 1).Str("a").U32(9).U32(8).U64(2).Str("x").U64(1UL << 50).Bytes(), "element 1 of metadata 'a'");
        AssertBad(new RawGguf(3, 1, 0).Str("t").U32(1).U64(8).U32(0).Bytes(), "truncated", "tensor 't'");
        AssertBad(new RawGguf(3, 1, 0).U64(1UL << 50).Zeros(20).Bytes(), "name of tensor #0");
    }

    [Fact]
    public void Deeply_nested_arrays_are_refused()
    {
        var raw = new RawGguf(3, 0, 1).Str("deep").U32(9);
        for (var i = 0; i < 1000; i++) raw.U32(9).U64(1);
        raw.U32(4).U64(0);
        AssertBad(raw.Bytes(), "nests arrays");
    }

    [Fact]
    public void Bad_metadata()
    {
        AssertBad(new RawGguf(3, 0, 1).Str("k").U32(13).U64(0).Bytes(), "value type 13");
        AssertBad(new RawGguf(3, 0, 1).Str("a").U32(9).U32(77).U64(0).Bytes(), "value type 77");
        AssertBad(new RawGguf(3, 0, 2).Str("k").U32(4).U32(1).Str("k").U32(4).U32(2).Bytes(), "'k'", "twice");
        AssertBad(new RawGguf(3, 0, 1).Str("general.alignment").U32(4).U32(48).Bytes(), "general.alignment", "power of two");
        AssertBad(new RawGguf(3, 0, 1).Str("general.alignment").U32(4).U32(0).Bytes(), "power of two");
        AssertBad(new RawGguf(3, 0, 1).Str("general.alignment").U32(8).Str("32").Bytes(), "power of two");
    }

    [Fact]
    public void Unknown_tensor_type() => AssertBad(OneTensor(type: 99), "blk.0.w", "unknown type number 99");

    [Fact]
    public void Removed_ggml_type_numbers_are_unknown() => AssertBad(OneTensor(type: 4), "unknown type number 4");

    [Fact]
    public void Tensor_offset_out_of_range()
    {
        AssertBad(OneTensor(offset: 1UL << 40), "blk.0.w", "needs bytes up to");
        AssertBad(OneTensor(offset: 0x7FFF_FFFF_FFFF_FFE0), "blk.0.w", "needs bytes up to");
        AssertBad(OneTensor(offset: ulong.MaxValue - 31), "blk.0.w");
        AssertBad(OneTensor(offset: 32), "blk.0.w", "needs bytes up to 128", "file has 96");
    }

    [Fact]
    public void Misaligned_tensor_offset() => AssertBad(OneTensor(offset: 4, dataBytes: 64), "blk.0.w", "not a multiple of the alignment 32");

    [Fact]
    public void Bad_tensor_shapes()
    {
        AssertBad(OneTensor(type: 8, ne0: 33, dataBytes: 64), "whole number of 32-element blocks");
        AssertBad(new RawGguf(3, 1, 0).Tensor("big", [8, 1UL << 40, 1UL << 40], 0, 0).PadTo(32).Bytes(), "'big'", "overflows");
        AssertBad(new RawGguf(3, 1, 0).Tensor("neg", [1UL << 63], 0, 0).PadTo(32).Bytes(), "'neg'", "negative");
        AssertBad(new RawGguf(3, 1, 0).Tensor("five", [1, 1, 1, 1, 1], 0, 0).PadTo(32).Zeros(32).Bytes(), "'five'", "at most 4");
        AssertBad(new RawGguf(3, 1, 0).Tensor("wide", [1UL << 32], 24, 0).PadTo(32).Bytes(), "'wide'", "int32");
        AssertBad(new RawGguf(3, 2, 0).Tensor("t", [8], 0, 0).Tensor("t", [8], 0, 32).PadTo(32).Zeros(64).Bytes(), "'t'", "twice");
    }

    [Fact]
    public void Missing_file_is_FileNotFoundException()
    {
        var path = _dir.File("nope.gguf");
        var ex = Assert.Throws<FileNotFoundException>(() => GgufFile.Open(path));
        Assert.Contains(path, ex.Message);
        Assert.Equal(path, ex.FileName);
        Assert.Contains("is a directory", Assert.Throws<FileNotFoundException>(() => GgufFile.Open(_dir.Path)).Message);
    }

    [Fact]
    public void Random_garbage_never_crashes()
    {
        var good = File.ReadAllBytes(GgufFileTests.Stories260KGguf)[..14176];
        var rng = new Random(1234);
        for (var i = 0; i < 300; i++)
        {
            var bytes = (byte[])good.Clone();
            for (var k = 0; k < 4; k++) bytes[rng.Next(4, bytes.Length)] = (byte)rng.Next(256);
            var path = Write("fuzz.gguf", bytes);
            try
            {
                GgufFile.Open(path).Dispose();
            }
            catch (ModelFormatException ex)
            {
                Assert.Contains(path, ex.Message);
            }
        }
    }
}

internal static class ScopeExtensions
{
    public static void Let<T>(this T value, Action<T> action) => action(value);
}
