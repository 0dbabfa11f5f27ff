using RagTune.Engine.Formats;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;
using RagTune.TestKit;
using RagTune.TestKit.Fuzzing;

namespace RagTune.FineTuning.Tests.Adapters;

/// <summary>
/// Seeded mutants of a PEFT adapter folder (ours, for stories260K): a mutated <c>adapter_config.json</c> or a
/// mutated <c>adapter_model.safetensors</c> must load or fail with <see cref="AdapterFormatException"/> (config,
/// shapes, tensor names) or <see cref="ModelFormatException"/> (the safetensors container), naming the file.
/// Counts are in docs/reliability.md.
/// </summary>
public sealed class PeftAdapterFuzzTests
{
    private static bool Documented(Exception e) => e is AdapterFormatException or ModelFormatException;

    private static string Saved(TempDir dir)
    {
        var model = TestModels.StoriesModel.Engine;
        var adapter = new LoraAdapter(model.Config, new LoraConfig(2, 4, 0, LoraTargets.All), seed: 1);
        var folder = dir.File("adapter");
        PeftAdapter.Save(adapter, model.Config, folder, "stories260K");
        return folder;
    }

    [Fact]
    public void Mutated_adapter_configs_load_or_are_refused_by_name()
    {
        using var dir = new TempDir();
        var folder = Saved(dir);
        var path = Path.Combine(folder, PeftAdapter.ConfigFileName);
        var valid = File.ReadAllBytes(path);
        var config = TestModels.StoriesModel.Engine.Config;
        FuzzRun.Run(path, seed: 20, count: 1500, r => Mutants.Text(r, valid), _ => PeftAdapter.Load(folder, config), Documented);
    }

    [Fact]
    public void Mutated_adapter_weights_load_or_are_refused_by_name()
    {
        using var dir = new TempDir();
        var folder = Saved(dir);
        var path = Path.Combine(folder, PeftAdapter.WeightsFileName);
        var valid = File.ReadAllBytes(path);
        var header = 8 + (int)BitConverter.ToUInt64(valid, 0);
        var config = TestModels.StoriesModel.Engine.Config;
        FuzzRun.Run(path, seed: 21, count: 1000, r => Mutants.Binary(r, valid, header), _ => PeftAdapter.Load(folder, config), Documented);
    }
}
