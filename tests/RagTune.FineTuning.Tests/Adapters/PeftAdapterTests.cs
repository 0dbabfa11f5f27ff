using System.Text.Json.Nodes;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Adapters;

public sealed class PeftAdapterTests
{
    private static LoraAdapter Trained(ModelConfig c, LoraTargets targets = LoraTargets.All)
    {
        var a = new LoraAdapter(c, new LoraConfig(4, 8, 0, targets), seed: 3);
        var rng = new Random(5);
        foreach (var p in a.Parameters)
            for (int i = 0; i < p.Values.Length; i++) p.Values[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
        return a;
    }

    [Fact]
    public void Export_and_reload_gives_identical_parameters_and_logits()
    {
        using var dir = new TempDir();
        var model = TestModels.StoriesModel.Engine;
        var adapter = Trained(model.Config);
        PeftAdapter.Save(adapter, model.Config, dir.Path, "stories260K");
        var back = PeftAdapter.Load(dir.Path, model.Config);
        Assert.Equal(adapter.Config, back.Config);
        for (int i = 0; i < adapter.Parameters.Count; i++)
        {
            Assert.Equal(adapter.Parameters[i].Name, back.Parameters[i].Name);
            Assert.Equal(adapter.Parameters[i].Values, back.Parameters[i].Values);
        }
        int[] ids = [1, 300, 301, 302, 42, 7, 9, 11];
        var l1 = Logits(model, adapter, ids);
        var l2 = Logits(model, back, ids);
        Assert.Equal(l1, l2);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "adapter_config.json")))!;
        Assert.Equal(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], cfg["target_modules"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("stories260K", cfg["base_model_name_or_path"]!.GetValue<string>());
    }

    [Fact]
    public void The_folder_tune_out_wrote_loads_its_adapter_and_a_full_fine_tune_output_is_named()
    {
        using var dir = new TempDir();
        var model = TestModels.StoriesModel.Engine;
        var adapter = Trained(model.Config);
        var run = dir.File("run");
        PeftAdapter.Save(adapter, model.Config, Path.Combine(run, PeftAdapter.TuneOutputFolder), "stories260K");
        Directory.CreateDirectory(Path.Combine(run, "checkpoints"));
        Assert.Equal(Path.Combine(run, "adapter"), PeftAdapter.ResolveFolder(run));
        Assert.Equal(Path.Combine(run, "adapter"), PeftAdapter.ResolveFolder(Path.Combine(run, "adapter")));
        var back = PeftAdapter.Load(run, model.Config);
        Assert.Equal(adapter.Parameters[^1].Values, back.Parameters[^1].Values);

        var full = dir.File("full");
        Directory.CreateDirectory(Path.Combine(full, "model"));
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(full, model.Config));
        Assert.Contains("fully fine-tuned model", e.Message);
        Assert.Contains("--model", e.Message);
        Assert.Contains("tune --out", Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(dir.File("empty"), model.Config)).Message);
    }

    [Fact]
    public void Q_rows_are_stored_in_hugging_face_order()
    {
        using var dir = new TempDir();
        var c = TestModels.StoriesModel.Engine.Config;
        var adapter = Trained(c, LoraTargets.Q);
        PeftAdapter.Save(adapter, c, dir.Path, "x");
        using var st = RagTune.Engine.Formats.SafetensorsFile.Open(Path.Combine(dir.Path, PeftAdapter.WeightsFileName));
        var b = adapter.Parameters[1];
        Assert.True(st.TryGetTensor(b.Name, out var view));
        int hd = c.HeadDim, r = b.Shape[1];
        var stored = view.AsFloats();
        // engine row 1 (pair 0, second element) is Hugging Face row hd/2 of head 0
        Assert.Equal(b.Values.AsSpan(1 * r, r).ToArray(), stored.Slice(hd / 2 * r, r).ToArray());
    }

    [Fact]
    public void An_adapter_for_another_base_is_refused()
    {
        using var dir = new TempDir();
        var c = TestModels.StoriesModel.Engine.Config;
        PeftAdapter.Save(Trained(c), c, dir.Path, "stories260K");
        var wider = c with { Dim = c.Dim * 2 };
        Assert.Contains("another base", Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(dir.Path, wider)).Message);
        var deeper = c with { Layers = c.Layers + 1 };
        Assert.Contains("missing", Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(dir.Path, deeper)).Message);
        var cfgPath = Path.Combine(dir.Path, "adapter_config.json");
        File.WriteAllText(cfgPath, File.ReadAllText(cfgPath).Replace("\"down_proj\"", "\"lm_head\""));
        Assert.Contains("'lm_head'", Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(dir.Path, c)).Message);
        Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(dir.File("nothing"), c));
    }

    internal static float[] Logits(TransformerModel model, LoraAdapter adapter, int[] ids)
    {
        using var s = new TrainingSession(model, adapter, new TrainingOptions(1, ids.Length, 1));
        var logits = new float[ids.Length * model.Config.VocabSize];
        s.Forward(ids, logits);
        return logits;
    }
}
