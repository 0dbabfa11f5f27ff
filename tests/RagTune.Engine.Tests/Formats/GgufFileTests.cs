using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Formats;

public sealed class GgufFileTests
{
    internal static string Stories260KGguf => SharedData.File("models", "stories260k", "stories260K.gguf");

    [Fact]
    public void Stories260K_header_and_hyperparameters()
    {
        using var f = GgufFile.Open(Stories260KGguf);
        Assert.Equal(3u, f.Version);
        Assert.Equal(new FileInfo(Stories260KGguf).Length, f.FileSize);
        Assert.Equal(32, f.Alignment);
        Assert.Equal(0, f.DataOffset % 32);
        Assert.Equal("llama", f.GetString("general.architecture"));
        Assert.Equal(64, f.GetInt("llama.embedding_length"));
        Assert.Equal(5, f.GetInt("llama.block_count"));
        Assert.Equal(8, f.GetInt("llama.attention.head_count"));
        Assert.Equal(4, f.GetInt("llama.attention.head_count_kv"));
        Assert.Equal(172, f.GetInt("llama.feed_forward_length"));
        // The converter wrote 2048 here although the llama2.c checkpoint was trained with seq_len 512.
        Assert.Equal(2048, f.GetInt("llama.context_length"));
        Assert.Equal(1e-5f, f.GetFloat("llama.attention.layer_norm_rms_epsilon")!.Value, 1e-9f);
        Assert.Equal(0xFFFFFFFFL, f.GetInt("tokenizer.ggml.padding_token_id"));
        Assert.Null(f.GetString("no.such.key"));
        Assert.Equal(19, f.MetadataKeys.Count);
        Assert.Equal("tokenizer.ggml.tokens", f.MetadataKeys[0]);
        Assert.Equal(f.MetadataKeys.Count, f.Metadata.Count);
    }

    [Fact]
    public void Stories260K_tokenizer_metadata()
    {
        using var f = GgufFile.Open(Stories260KGguf);
        var tokens = f.GetStringArray("tokenizer.ggml.tokens")!;
        var scores = f.GetFloatArray("tokenizer.ggml.scores")!;
        var types = f.GetIntArray("tokenizer.ggml.token_type")!;
        Assert.Equal(512, tokens.Length);
        Assert.Equal(512, scores.Length);
        Assert.Equal(512, types.Length);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], tokens[..4]);
        Assert.Equal([2, 3, 3, 6], types[..4]);
        Assert.Equal("llama", f.GetString("tokenizer.ggml.model"));
        Assert.Equal(GgufValueType.String, f.Metadata["tokenizer.ggml.tokens"].ArrayElementType);
        Assert.Equal("[512 items: \"<unk>\", \"<s>\", \"</s>\", …]", f.Metadata["tokenizer.ggml.tokens"].ToString());
        Assert.Contains(scores, s => s != 0);
    }

    [Fact]
    public void Stories260K_tensor_list()
    {
        using var f = GgufFile.Open(Stories260KGguf);
        Assert.Equal(3 + 5 * 9, f.Tensors.Count);
        Assert.All(f.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
        var byName = f.Tensors.ToDictionary(t => t.Name, t => t.Dims);
        Assert.Equal([64L, 512], byName["token_embd.weight"]);
        Assert.Equal([64L], byName["output_norm.weight"]);
        Assert.Equal([64L, 512], byName["output.weight"]);
        for (var l = 0; l < 5; l++)
        {
            Assert.Equal([64L, 64], byName[$"blk.{l}.attn_q.weight"]);
            Assert.Equal([64L, 32], byName[$"blk.{l}.attn_k.weight"]);
            Assert.Equal([64L, 32], byName[$"blk.{l}.attn_v.weight"]);
            Assert.Equal([64L, 64], byName[$"blk.{l}.attn_output.weight"]);
            Assert.Equal([64L], byName[$"blk.{l}.attn_norm.weight"]);
            Assert.Equal([64L, 172], byName[$"blk.{l}.ffn_gate.weight"]);
            Assert.Equal([172L, 64], byName[$"blk.{l}.ffn_down.weight"]);
            Assert.Equal([64L, 172], byName[$"blk.{l}.ffn_up.weight"]);
            Assert.Equal([64L], byName[$"blk.{l}.ffn_norm.weight"]);
        }

        var emb = f.GetTensor("token_embd.weight");
        Assert.Equal(512, emb.Rows);
        Assert.Equal(64, emb.Cols);
        Assert.Equal(64 * 4, emb.RowBytes);
        var last = f.Tensors[^1];
        Assert.Equal(f.FileSize, f.DataOffset + last.Offset + last.ByteLength);
        Assert.False(f.TryGetTensor("blk.9.attn_q.weight", out _));
        var ex = Assert.Throws<ModelFormatException>(() => f.GetTensor("blk.9.attn_q.weight"));
        Assert.Contains("blk.9.attn_q.weight", ex.Message);
        Assert.Contains("stories260K.gguf", ex.Message);
    }

    [Fact]
    public void Typed_accessors_reject_incompatible_types()
    {
        using var f = GgufFile.Open(Stories260KGguf);
        Assert.Throws<ModelFormatException>(() => f.GetString("llama.block_count"));
        Assert.Throws<ModelFormatException>(() => f.GetInt("general.architecture"));
        Assert.Throws<ModelFormatException>(() => f.GetFloat("llama.block_count"));
        Assert.Throws<ModelFormatException>(() => f.GetBool("llama.block_count"));
        Assert.Throws<ModelFormatException>(() => f.GetStringArray("tokenizer.ggml.scores"));
        Assert.Throws<ModelFormatException>(() => f.GetFloatArray("tokenizer.ggml.tokens"));
        var ex = Assert.Throws<ModelFormatException>(() => f.GetIntArray("tokenizer.ggml.tokens"));
        Assert.Contains("tokenizer.ggml.tokens", ex.Message);
    }

    [Theory]
    [InlineData("ggml-vocab-gpt-2.gguf", "gpt2", 50257)]
    [InlineData("ggml-vocab-llama-spm.gguf", "llama", 32000)]
    public void Vocab_only_files_load_without_tensors(string file, string model, int vocab)
    {
        using var f = GgufFile.Open(SharedData.File("tokenizers", "llamacpp-vocab", file));
        Assert.Empty(f.Tensors);
        Assert.Equal(model, f.GetString("tokenizer.ggml.model"));
        Assert.Equal(vocab, f.GetStringArray("tokenizer.ggml.tokens")!.Length);
        if (model == "gpt2") Assert.Equal("Ġ t", f.GetStringArray("tokenizer.ggml.merges")![0]);
    }
}

public sealed class GgufFileVersionAndSpeedTests
{
    [Fact]
    public void Version_2_files_load()
    {
        using var dir = new TempDir();
        var path = dir.File("v2.gguf");
        var bytes = File.ReadAllBytes(GgufFileTests.Stories260KGguf);
        bytes[4] = 2;
        File.WriteAllBytes(path, bytes);
        using var f = GgufFile.Open(path);
        Assert.Equal(2u, f.Version);
        Assert.Equal(48, f.Tensors.Count);
    }

    [Fact]
    public void A_100k_string_vocabulary_opens_repeatedly()
    {
        var path = SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-gpt-2.gguf");
        for (var i = 0; i < 3; i++)
        {
            using var f = GgufFile.Open(path);
            Assert.Equal(50257, f.GetStringArray("tokenizer.ggml.tokens")!.Length);
        }
    }
}
