using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.Models.Local;
using RagTune.TestKit;
using RagTune.Tokenizers;

namespace RagTune.Models.Tests.Local;

/// <summary>Bad input gives one clear error naming the file and what to do, never a crash or a hang.</summary>
public sealed class LoadErrorTests
{
    [Fact]
    public void A_llama2c_checkpoint_without_a_tokenizer_asks_for_one()
    {
        using var dir = new TempDir();
        var model = dir.File("lonely.bin");
        File.Copy(SharedData.File("models", "stories260k", "stories260K.bin"), model);
        var e = Assert.Throws<TokenizerFormatException>(() => LocalModel.Load(model));
        Assert.Contains(model, e.Message);
        Assert.Contains("--tokenizer", e.Message);
    }

    [Fact]
    public void A_tokenizer_of_another_vocabulary_size_is_refused()
    {
        var preset = new ModelPreset("odd", ModelPresets.Get("tiny").Config with { VocabSize = 600 }, true, "test");
        var path = TinyModels.GetOrCreate("odd-vocab-600.gguf", p => RandomModelWriter.Write(preset, GgmlType.F32, 1, p));
        var e = Assert.Throws<TokenizerFormatException>(() => LocalModel.Load(path, SharedData.File("models", "stories260k", "tok512.bin")));
        Assert.Contains("600", e.Message);
    }

    [Fact]
    public void An_unsupported_architecture_is_named()
    {
        using var dir = new TempDir();
        var path = dir.File("mamba.gguf");
        var w = new GgufWriter();
        w.SetString("general.architecture", "mamba");
        w.Write(path);
        var e = Assert.Throws<ModelFormatException>(() => TransformerModel.Load(path));
        Assert.Contains("mamba", e.Message);
        Assert.Contains("not supported", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void An_unsupported_tensor_type_is_named_with_the_tensor()
    {
        using var dir = new TempDir();
        var path = dir.File("k-quant.gguf");
        // Rewrite the tiny model with one matrix declared as Q3_K (a type this engine does not run yet).
        using (var src = GgufFile.Open(TinyModels.Get("tiny", "f32")))
        {
            var w = new GgufWriter();
            foreach (var key in src.MetadataKeys) w.Set(key, src.Metadata[key]);
            foreach (var t in src.Tensors)
            {
                var view = src.GetTensor(t.Name);
                if (t.Name == "blk.0.ffn_up.weight")
                {
                    var q3k = GgmlTypes.Traits(GgmlType.Q3_K);
                    // 192 rows of 64 columns are not whole 256-element blocks: use a [256, 48] shape of equal element count.
                    w.AddTensor(t.Name, GgmlType.Q3_K, [256, 48], new byte[q3k.RowBytes(256) * 48]);
                }
                else
                {
                    unsafe { w.AddTensor(t.Name, t.Type, t.Dims, new ReadOnlySpan<byte>(view.Data, checked((int)view.ByteLength))); }
                }
            }
            w.Write(path);
        }
        var e = Assert.Throws<ModelFormatException>(() => TransformerModel.Load(path));
        Assert.Contains("blk.0.ffn_up.weight", e.Message);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(300)]
    [InlineData(100_000)]
    [InlineData(1_185_000)]
    public void A_truncated_model_file_is_reported_not_crashed(int length)
    {
        using var dir = new TempDir();
        var path = dir.File("cut.gguf");
        var bytes = File.ReadAllBytes(SharedData.File("models", "stories260k", "stories260K.gguf"));
        File.WriteAllBytes(path, bytes.AsSpan(0, length).ToArray());
        var e = Assert.Throws<ModelFormatException>(() => LocalModel.Load(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_missing_model_file_says_so()
    {
        var e = Assert.Throws<FileNotFoundException>(() => LocalModel.Load("/no/such/model.gguf"));
        Assert.Contains("/no/such/model.gguf", e.Message);
    }

    [Fact]
    public void A_vocab_only_gguf_is_not_mistaken_for_a_model()
    {
        var e = Assert.Throws<ModelFormatException>(() => LocalModel.Load(SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-llama-spm.gguf")));
        Assert.Contains("no tensors", e.Message);
    }
}
