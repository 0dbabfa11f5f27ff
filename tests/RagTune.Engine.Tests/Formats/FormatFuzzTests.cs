using System.Buffers.Binary;
using System.Runtime.InteropServices;
using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Formats;

/// <summary>
/// Seeded, bounded mutation fuzzing of the model file readers: small valid files made here are mutated (bit flips,
/// "interesting" 32/64-bit values over header fields, truncation, deleted and repeated ranges) and every result
/// must open, or fail with a <see cref="ModelFormatException"/> naming the file; never another exception, and never
/// a big allocation (a header claiming a huge tensor or array is refused before allocating). The counts are in
/// docs/reliability.md; a failure prints the seed and iteration to replay.
/// </summary>
public sealed class FormatFuzzTests : IDisposable
{
    // Per input: far above what a valid small file needs, far below what a believed huge claim would take.
    private const long MaxAllocatedBytesPerInput = 64L * 1024 * 1024;

    private static readonly ulong[] s_interesting =
    [
        0, 1, 2, 7, 8, 31, 32, 255, 0x7F, 0x80, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        1UL << 40, 1UL << 61, 1UL << 62, long.MaxValue, 1UL << 63, ulong.MaxValue, ulong.MaxValue - 7,
    ];

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Mutate(Random random, byte[] valid, int headerBytes)
    {
        var b = (byte[])valid.Clone();
        var region = Math.Max(1, Math.Min(headerBytes, b.Length));
        switch (random.Next(6))
        {
            case 0:
                for (int i = 0, n = random.Next(1, 5); i < n; i++) b[random.Next(region)] ^= (byte)(1 << random.Next(8));
                return b;
            case 1:
            {
                var at = random.Next(Math.Max(1, region - 8));
                if (at + 8 <= b.Length) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), s_interesting[random.Next(s_interesting.Length)]);
                return b;
            }
            case 2:
            {
                var at = random.Next(Math.Max(1, region - 4));
                if (at + 4 <= b.Length) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)s_interesting[random.Next(s_interesting.Length)]);
                return b;
            }
            case 3:
                return b[..random.Next(b.Length)];
            case 4:
            {
                var at = random.Next(region);
                var len = Math.Min(random.Next(1, 64), b.Length - at);
                return [.. b[..at], .. b[(at + len)..]];
            }
            default:
            {
                var at = random.Next(region);
                var len = Math.Min(random.Next(1, 64), b.Length - at);
                return [.. b[..(at + len)], .. b[at..]];
            }
        }
    }

    /// <summary>Runs <paramref name="count"/> mutants of <paramref name="valid"/> through <paramref name="open"/>; returns how many opened.</summary>
    private int Fuzz(string format, int seed, int count, byte[] valid, int headerBytes, Action<string> open)
    {
        var random = new Random(seed);
        var path = _dir.File("fuzz." + format);
        var failures = new List<string>();
        var opened = 0;
        for (var i = 0; i < count; i++)
        {
            var bytes = Mutate(random, valid, headerBytes);
            File.WriteAllBytes(path, bytes);
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                open(path);
                opened++;
            }
            catch (ModelFormatException e) when (e.Message.Contains(path, StringComparison.Ordinal))
            {
            }
            catch (Exception e)
            {
                failures.Add($"{format} seed {seed} input {i} ({bytes.Length} bytes): {e.GetType().Name}: {e.Message}");
                File.WriteAllBytes(_dir.File($"failure-{i}.{format}"), bytes);
            }
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated > MaxAllocatedBytesPerInput)
                failures.Add($"{format} seed {seed} input {i}: allocated {allocated / (1024 * 1024)} MiB");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
        return opened;
    }

    private static void Touch(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > 0) _ = bytes[0] ^ bytes[^1];
    }

    private static byte[] SmallGguf(string path)
    {
        var w = new GgufWriter();
        w.SetString("general.architecture", "llama");
        w.SetUInt32("llama.block_count", 1);
        w.SetFloat32("llama.rope.freq_base", 10000);
        w.SetStringArray("tokenizer.ggml.tokens", ["<unk>", "<s>", "</s>", "a", "b"]);
        w.SetFloat32Array("tokenizer.ggml.scores", [0, 0, 0, -1, -2]);
        w.SetInt32Array("tokenizer.ggml.token_type", [2, 3, 3, 1, 1]);
        w.AddTensor("token_embd.weight", GgmlType.F32, [8, 5], new byte[8 * 5 * 4]);
        w.AddTensor("blk.0.attn_q.weight", GgmlType.Q8_0, [32, 2], new byte[34 * 2]);
        w.AddTensor("output_norm.weight", GgmlType.F32, [8], new byte[32]);
        w.Write(path);
        return File.ReadAllBytes(path);
    }

    private static void OpenGguf(string path)
    {
        using var f = GgufFile.Open(path);
        foreach (var key in f.MetadataKeys) _ = f.Metadata[key].Value;
        foreach (var t in f.Tensors) Touch(f.GetTensorBytes(t));
    }

    [Fact]
    public void Mutated_gguf_files_fail_cleanly()
    {
        var valid = SmallGguf(_dir.File("valid.gguf"));
        OpenGguf(_dir.File("valid.gguf"));
        var opened = Fuzz("gguf", 1, 3000, valid, headerBytes: valid.Length, OpenGguf);
        Assert.True(opened < 3000, "some mutants must be refused, or the mutator does nothing");
    }

    [Fact]
    public void Mutated_tiny_models_fail_cleanly_through_the_model_loader()
    {
        var valid = File.ReadAllBytes(TinyModels.Get("tiny", "f32"));
        int dataStart;
        using (var f = GgufFile.Open(TinyModels.Get("tiny", "f32"))) dataStart = (int)(valid.Length - f.Tensors.Sum(t => f.GetTensorBytes(t).Length));
        Fuzz("model.gguf", 2, 300, valid, headerBytes: dataStart, p => TransformerModel.Load(p).Dispose());
    }

    private static byte[] SmallSafetensors(string path)
    {
        var w = new SafetensorsWriter();
        w.SetMetadata("format", "pt");
        w.AddTensor("a.weight", GgmlType.F32, [2, 3], new byte[24]);
        w.AddTensor("b.bias", GgmlType.F16, [3], new byte[6]);
        w.AddTensor("c.weight", GgmlType.BF16, [4, 2], new byte[16]);
        w.Write(path);
        return File.ReadAllBytes(path);
    }

    private static void OpenSafetensors(string path)
    {
        using var f = SafetensorsFile.Open(path);
        foreach (var t in f.Tensors)
        {
            Touch(f.GetBytes(t));
            if (f.TryGetTensor(t.Name, out var view)) _ = view.Rows * view.Cols;
        }
    }

    [Fact]
    public void Mutated_safetensors_files_fail_cleanly()
    {
        var valid = SmallSafetensors(_dir.File("valid.safetensors"));
        OpenSafetensors(_dir.File("valid.safetensors"));
        var opened = Fuzz("safetensors", 3, 3000, valid, headerBytes: valid.Length, OpenSafetensors);
        Assert.True(opened < 3000);
    }

    [Fact]
    public void Safetensors_headers_with_huge_numbers_fail_cleanly()
    {
        // Text-level mutations of the JSON header: every number in it replaced by a huge or negative one in turn.
        var valid = SmallSafetensors(_dir.File("valid.safetensors"));
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var header = System.Text.Encoding.UTF8.GetString(valid, 8, headerLength);
        var numbers = System.Text.RegularExpressions.Regex.Matches(header, "[0-9]+");
        var path = _dir.File("huge.safetensors");
        string[] replacements = ["9223372036854775807", "9223372036854775808", "18446744073709551615", "-1", "1e300", "4294967296", "99999999999999999999999"];
        foreach (System.Text.RegularExpressions.Match m in numbers)
        {
            foreach (var r in replacements)
            {
                var mutated = header[..m.Index] + r + header[(m.Index + m.Length)..];
                var json = System.Text.Encoding.UTF8.GetBytes(mutated);
                var bytes = new byte[8 + json.Length + (valid.Length - 8 - headerLength)];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
                json.CopyTo(bytes, 8);
                valid.AsSpan(8 + headerLength).CopyTo(bytes.AsSpan(8 + json.Length));
                File.WriteAllBytes(path, bytes);
                var e = Assert.Throws<ModelFormatException>(() => OpenSafetensors(path));
                Assert.Contains(path, e.Message);
            }
        }
    }

    [Fact]
    public void A_safetensors_header_with_invalid_utf8_is_a_format_error_not_an_InvalidOperationException()
    {
        // Found by Mutated_safetensors_files_fail_cleanly (seed 3, input 245): one bit flipped inside a tensor name.
        var valid = SmallSafetensors(_dir.File("valid.safetensors"));
        var at = Array.IndexOf(valid, (byte)'a', 8);
        valid[at] = 0xC3;
        var path = _dir.File("bad-utf8.safetensors");
        File.WriteAllBytes(path, valid);
        var e = Assert.Throws<ModelFormatException>(() => OpenSafetensors(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not valid UTF-8 (at byte " + at + ")", e.Message);
    }

    private static byte[] SmallLlamaC()
    {
        int dim = 8, hidden = 12, layers = 2, heads = 2, kv = 1, vocab = 5, seq = 4;
        long headSize = dim / heads, kvDim = kv * headSize;
        var floats = (long)vocab * dim + layers * (2L * dim + dim * dim + 2 * dim * kvDim + dim * dim + 3L * dim * hidden) + dim + seq * headSize;
        var header = new[] { dim, hidden, layers, heads, kv, vocab, seq };
        return [.. MemoryMarshal.AsBytes(header.AsSpan()), .. new byte[floats * 4]];
    }

    private static void OpenLlamaC(string path)
    {
        using var c = LlamaCCheckpoint.Open(path);
        foreach (var field in LlamaCCheckpoint.FieldNames)
        {
            var perLayer = field is not ("token_embedding_table" or "rms_final_weight" or "wcls");
            for (var layer = perLayer ? 0 : -1; layer < (perLayer ? c.Config.NLayers : 0); layer++)
            {
                var v = c.Get(field, layer);
                Touch(v.Row(0));
                Touch(v.Row(v.Rows - 1));
            }
        }
    }

    [Fact]
    public void Mutated_llama2c_checkpoints_fail_cleanly()
    {
        var valid = SmallLlamaC();
        var path = _dir.File("valid.bin");
        File.WriteAllBytes(path, valid);
        OpenLlamaC(path);
        Fuzz("bin", 4, 1500, valid, headerBytes: 28, OpenLlamaC);
        Fuzz("model.bin", 5, 500, valid, headerBytes: 28, p => TransformerModel.Load(p).Dispose());
    }
}
