using System.Runtime.InteropServices;
using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Formats;

public sealed class LlamaCCheckpointTests
{
    internal static string Stories260KBin => SharedData.File("models", "stories260k", "stories260K.bin");

    [Fact]
    public void Stories260K_header()
    {
        using var c = LlamaCCheckpoint.Open(Stories260KBin);
        Assert.Equal(new LlamaCConfig(64, 172, 5, 8, 4, 512, 512, true), c.Config);
        Assert.True(c.SharedClassifier);
        Assert.Equal(8, c.Config.HeadSize);
        Assert.Equal(32, c.Config.KvDim);
    }

    [Fact]
    public void Views_have_out_by_in_shapes()
    {
        using var c = LlamaCCheckpoint.Open(Stories260KBin);
        AssertShape(c.Get("token_embedding_table"), 512, 64);
        AssertShape(c.Get("rms_att_weight", 4), 1, 64);
        AssertShape(c.Get("wq", 0), 64, 64);
        AssertShape(c.Get("wk", 0), 32, 64);
        AssertShape(c.Get("wv", 0), 32, 64);
        AssertShape(c.Get("wo", 0), 64, 64);
        AssertShape(c.Get("w1", 0), 172, 64);
        AssertShape(c.Get("w2", 0), 64, 172);
        AssertShape(c.Get("w3", 0), 172, 64);
        AssertShape(c.Get("rms_final_weight"), 1, 64);
        unsafe
        {
            Assert.True(c.Get("wcls").Data == c.Get("token_embedding_table").Data);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Get("wq"));
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Get("wq", 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Get("rms_final_weight", 0));
        Assert.Throws<ArgumentException>(() => c.Get("freq_cis_real"));
    }

    private static void AssertShape(TensorView v, long rows, int cols)
    {
        Assert.Equal(GgmlType.F32, v.Type);
        Assert.Equal(rows, v.Rows);
        Assert.Equal(cols, v.Cols);
    }

    [Fact]
    public void Gguf_conversion_matches_llama2c_weights()
    {
        using var c = LlamaCCheckpoint.Open(Stories260KBin);
        using var g = GgufFile.Open(GgufFileTests.Stories260KGguf);
        AssertBitEqual(c.Get("token_embedding_table"), g.GetTensor("token_embd.weight"));
        AssertBitEqual(c.Get("wcls"), g.GetTensor("output.weight"));
        AssertBitEqual(c.Get("rms_final_weight"), g.GetTensor("output_norm.weight"));
        for (var l = 0; l < c.Config.NLayers; l++)
        {
            AssertBitEqual(c.Get("rms_att_weight", l), g.GetTensor($"blk.{l}.attn_norm.weight"));
            AssertBitEqual(c.Get("rms_ffn_weight", l), g.GetTensor($"blk.{l}.ffn_norm.weight"));
            AssertBitEqual(c.Get("wv", l), g.GetTensor($"blk.{l}.attn_v.weight"));
            AssertBitEqual(c.Get("wo", l), g.GetTensor($"blk.{l}.attn_output.weight"));
            AssertBitEqual(c.Get("w1", l), g.GetTensor($"blk.{l}.ffn_gate.weight"));
            AssertBitEqual(c.Get("w2", l), g.GetTensor($"blk.{l}.ffn_down.weight"));
            AssertBitEqual(c.Get("w3", l), g.GetTensor($"blk.{l}.ffn_up.weight"));
        }
    }

    // Finding: llama.cpp's llama2.c converter stores attn_q/attn_k exactly as llama2.c's wq/wk (Meta's layout,
    // RoPE rotating adjacent pairs (2i, 2i+1), ggml's "normal" rope mode), not row-permuted. The HF converter
    // un-permutes Hugging Face weights back to this same layout, so llama GGUFs use it throughout.
    [Fact]
    public void Gguf_attn_q_and_attn_k_equal_llama2c_wq_wk_without_row_permutation()
    {
        using var c = LlamaCCheckpoint.Open(Stories260KBin);
        using var g = GgufFile.Open(GgufFileTests.Stories260KGguf);
        for (var l = 0; l < c.Config.NLayers; l++)
        {
            foreach (var (lc, gg, heads) in new[] { ("wq", "attn_q", c.Config.NHeads), ("wk", "attn_k", c.Config.NKvHeads) })
            {
                var a = c.Get(lc, l);
                var b = g.GetTensor($"blk.{l}.{gg}.weight");
                AssertBitEqual(a, b);
                Assert.False(RowsEqual(b, a, PermuteRows((int)a.Rows, heads)), $"{gg} would also match permuted rows");
            }
        }
    }

    // llama.cpp's convert_hf_to_gguf "permute": within each head, row r of the GGUF tensor comes from
    // row (r % half) * 2 + r / half of the interleaved (llama2.c / Meta) layout.
    private static int[] PermuteRows(int rows, int heads)
    {
        var headDim = rows / heads;
        var half = headDim / 2;
        var map = new int[rows];
        for (var h = 0; h < heads; h++)
        {
            for (var r = 0; r < headDim; r++)
                map[h * headDim + r] = h * headDim + (r % half) * 2 + r / half;
        }
        return map;
    }

    private static bool RowsEqual(TensorView gguf, TensorView llamac, int[] map)
    {
        for (var r = 0; r < gguf.Rows; r++)
        {
            if (!gguf.Row(r).SequenceEqual(llamac.Row(map[r]))) return false;
        }
        return true;
    }

    private static void AssertBitEqual(TensorView expected, TensorView actual)
    {
        Assert.Equal(expected.Rows, actual.Rows);
        Assert.Equal(expected.Cols, actual.Cols);
        for (var r = 0; r < expected.Rows; r++)
            Assert.True(expected.Row(r).SequenceEqual(actual.Row(r)), $"row {r} differs");
    }
}

public sealed class LlamaCCheckpointBadInputTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Header(params int[] h)
    {
        var b = new byte[h.Length * 4];
        Buffer.BlockCopy(h, 0, b, 0, b.Length);
        return b;
    }

    // Floats a checkpoint with this header holds (run.c memory_map_weights), classifier excluded.
    private static long SharedFloats(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen)
    {
        long headSize = dim / heads, kvDim = kvHeads * headSize;
        return (long)vocab * dim + layers * (2L * dim + dim * dim + 2 * dim * kvDim + dim * dim + 3L * dim * hidden)
            + dim + seqLen * headSize;
    }

    private string Write(byte[] bytes)
    {
        var path = _dir.File("model.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private ModelFormatException AssertBad(byte[] bytes, params string[] expected)
    {
        var path = Write(bytes);
        var ex = Assert.Throws<ModelFormatException>(() => LlamaCCheckpoint.Open(path).Dispose());
        Assert.Contains(path, ex.Message);
        foreach (var s in expected) Assert.Contains(s, ex.Message, StringComparison.OrdinalIgnoreCase);
        return ex;
    }

    [Fact]
    public void Unshared_classifier_checkpoint_exposes_wcls()
    {
        int dim = 8, hidden = 12, layers = 2, heads = 2, kv = 1, vocab = 5, seq = 4;
        var floats = SharedFloats(dim, hidden, layers, heads, kv, vocab, seq) + vocab * dim;
        var values = new float[floats];
        for (var i = 0; i < values.Length; i++) values[i] = i;
        var bytes = Header(dim, hidden, layers, heads, kv, -vocab, seq).Concat(MemoryMarshal.AsBytes(values.AsSpan()).ToArray()).ToArray();
        using var c = LlamaCCheckpoint.Open(Write(bytes));
        Assert.False(c.SharedClassifier);
        Assert.Equal(vocab, c.Config.VocabSize);
        var wcls = c.Get("wcls").AsFloats();
        Assert.Equal(vocab * dim, wcls.Length);
        Assert.Equal(floats - vocab * dim, wcls[0]);
        Assert.Equal(floats - 1, wcls[^1]);
        // wk of layer 1 starts after embeddings, rms_att, wq and layer 0's wk.
        var kvDim = kv * dim / heads;
        Assert.Equal(vocab * dim + layers * dim + layers * dim * dim + kvDim * dim, c.Get("wk", 1).AsFloats()[0]);
        Assert.Equal(kvDim, c.Get("wk", 1).Rows);
    }

    [Fact]
    public void Wrong_sizes_name_the_expected_size()
    {
        var good = File.ReadAllBytes(LlamaCCheckpointTests.Stories260KBin);
        AssertBad(good[..^4], "1056536 bytes", "implies exactly 1056540", "legacy_export", "truncated");
        AssertBad([.. good, 0], "implies exactly 1056540");
        AssertBad([.. good, .. new byte[512 * 64 * 4]], "vocab_size should be negative");
        var unshared = (byte[])good.Clone();
        BitConverter.GetBytes(-512).CopyTo(unshared, 20);
        AssertBad(unshared, "vocab_size should be positive");
    }

    [Fact]
    public void Bad_headers()
    {
        AssertBad([], "shorter than the 28-byte");
        AssertBad(Header(1, 2, 3), "shorter than the 28-byte");
        AssertBad(Header(0x616b3432, 2, 0, 0, 0, 0, 0, 0), "'ak42'", "version 2", "legacy");
        AssertBad(Header(64, 172, 5, 0, 4, 512, 512), "zero or negative");
        AssertBad(Header(-64, 172, 5, 8, 4, 512, 512), "zero or negative");
        AssertBad(Header(64, 172, 5, 7, 7, 512, 512), "n_heads does not divide dim");
        AssertBad(Header(64, 172, 5, 8, 3, 512, 512), "n_kv_heads does not divide n_heads");
        AssertBad(Header(int.MaxValue, int.MaxValue, int.MaxValue, 1, 1, int.MaxValue, int.MaxValue), "2^63");
        AssertBad(Header(1 << 20, 1 << 20, 1 << 10, 1, 1, 1 << 20, 1), "implies exactly");
        AssertBad(File.ReadAllBytes(GgufFileTests.Stories260KGguf), "GGUF file");
    }

    [Fact]
    public void Missing_file_is_FileNotFoundException()
    {
        var path = _dir.File("nope.bin");
        var ex = Assert.Throws<FileNotFoundException>(() => LlamaCCheckpoint.Open(path));
        Assert.Contains(path, ex.Message);
    }
}
