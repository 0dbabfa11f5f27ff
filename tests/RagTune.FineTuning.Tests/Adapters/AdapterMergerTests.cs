using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Adapters;

public sealed class AdapterMergerTests
{
    private static LoraAdapter Random(ModelConfig c)
    {
        var a = new LoraAdapter(c, new LoraConfig(4, 8, 0), seed: 3);
        var rng = new Random(9);
        foreach (var p in a.Parameters)
            for (int i = 0; i < p.Values.Length; i++) p.Values[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
        return a;
    }

    [Fact]
    public void Merged_gguf_gives_the_logits_of_base_plus_adapter()
    {
        using var dir = new TempDir();
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32"));
        var adapter = Random(model.Config);
        var merged = dir.File("merged.gguf");
        AdapterMerger.MergeToGguf(model, adapter, merged);
        using var m = TransformerModel.Load(merged);
        int[] ids = [1, 5, 9, 200, 3, 17];
        var expected = PeftAdapterTests.Logits(model, adapter, ids);
        var actual = PeftAdapterTests.Logits(m, new LoraAdapter(m.Config, new LoraConfig(4, 8, 0)), ids); // B = 0: plain forward
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-3f);
        Assert.NotEqual(PeftAdapterTests.Logits(model, new LoraAdapter(model.Config, new LoraConfig(4, 8, 0)), ids), expected);
    }

    [Fact]
    public void Gguf_lora_export_has_llama_cpp_names_and_metadata()
    {
        using var dir = new TempDir();
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32"));
        var adapter = Random(model.Config);
        var path = dir.File("lora.gguf");
        GgufLoraAdapter.Save(adapter, model.Config, path, "tiny");
        using var g = GgufFile.Open(path);
        Assert.Equal("adapter", g.GetString("general.type"));
        Assert.Equal("lora", g.GetString("adapter.type"));
        Assert.Equal(2 * adapter.Parameters.Count / 2, g.Tensors.Count);
        var a = g.Tensors.Single(t => t.Name == "blk.0.attn_q.weight.lora_a");
        Assert.Equal(new long[] { model.Config.Dim, 4 }, a.Dims);
        var b = g.Tensors.Single(t => t.Name == "blk.0.ffn_down.weight.lora_b");
        Assert.Equal(new long[] { 4, model.Config.Dim }, b.Dims);
    }
}
