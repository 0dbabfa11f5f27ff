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

    /// <summary>Fields of the wrong JSON type (the random mutants rarely build these) are refused naming the field.</summary>
    [Theory]
    [InlineData("\"peft_type\": \"LORA\"", "\"peft_type\": 3", "'peft_type' is number 3")]
    [InlineData("\"r\": 2", "\"r\": \"2\"", "'r' is string \"2\"")]
    [InlineData("\"r\": 2", "\"r\": 2.5", "'r' is number 2.5")]
    [InlineData("\"lora_alpha\": 4", "\"lora_alpha\": [4]", "'lora_alpha' is a list")]
    [InlineData("\"target_modules\": [", "\"target_modules\": [null, ", "target_modules holds null")]
    [InlineData("\"target_modules\": [", "\"target_modules\": [{}, ", "target_modules holds an object")]
    public void Config_fields_of_the_wrong_type_are_named(string find, string replace, string expected)
    {
        using var dir = new TempDir();
        var folder = Saved(dir);
        var path = Path.Combine(folder, PeftAdapter.ConfigFileName);
        var text = File.ReadAllText(path);
        Assert.Contains(find, text);
        File.WriteAllText(path, text.Replace(find, replace, StringComparison.Ordinal));
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(folder, TestModels.StoriesModel.Engine.Config));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("[1, 2]")]
    [InlineData("\"LORA\"")]
    [InlineData("null")]
    public void A_config_that_is_not_an_object_is_named(string json)
    {
        using var dir = new TempDir();
        var folder = Saved(dir);
        var path = Path.Combine(folder, PeftAdapter.ConfigFileName);
        File.WriteAllText(path, json);
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(folder, TestModels.StoriesModel.Engine.Config));
        Assert.Contains("one JSON object", e.Message);
    }
}
