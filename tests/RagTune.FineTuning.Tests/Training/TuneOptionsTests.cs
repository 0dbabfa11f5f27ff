using RagTune.Engine;
using RagTune.FineTuning.Training;

namespace RagTune.FineTuning.Tests.Training;

public sealed class TuneOptionsTests
{
    private static readonly TuneOptions s_ok = new() { ModelPath = "m.gguf", DataPath = "d.jsonl", OutputDir = "out" };

    private static SettingException Refused(TuneOptions o) => Assert.Throws<SettingException>(o.Validate);

    [Fact]
    public void Defaults_are_valid_and_the_validation_split_applies_only_without_a_validation_file()
    {
        s_ok.Validate();
        Assert.Null(s_ok.ValidationSplit);
        Assert.Equal(TuneOptions.DefaultValidationSplit, s_ok.EffectiveValidationSplit);
        var withFile = s_ok with { ValidationPath = "v.jsonl" };
        withFile.Validate();
        Assert.Equal(0, withFile.EffectiveValidationSplit);
        Assert.Equal(0.25, (s_ok with { ValidationSplit = 0.25 }).EffectiveValidationSplit);
    }

    [Fact]
    public void A_validation_file_and_a_given_split_are_refused_even_when_the_split_equals_the_default()
    {
        var e = Refused(s_ok with { ValidationPath = "v.jsonl", ValidationSplit = TuneOptions.DefaultValidationSplit });
        Assert.Equal([nameof(TuneOptions.ValidationSplit), nameof(TuneOptions.ValidationPath)], e.Settings);
        Assert.Equal("Pass either --val <file> or --val-split, not both.",
            e.Render(s => s == nameof(TuneOptions.ValidationPath) ? "--val" : "--val-split"));
        (s_ok with { ValidationPath = "v.jsonl", ValidationSplit = 0 }).Validate();
    }

    [Theory]
    [InlineData(nameof(TuneOptions.LearningRate), "{0} 5 must be in (0, 1); 0.0002 is typical for LoRA.")]
    [InlineData(nameof(TuneOptions.Steps), "{0} 0 must be positive.")]
    [InlineData(nameof(TuneOptions.Epochs), "{0} 0 must be positive.")]
    [InlineData(nameof(TuneOptions.BatchSize), "{0} 0 must be between 1 and 4096.")]
    [InlineData(nameof(TuneOptions.ValidationSplit), "{0} 1.5 must be in [0, 1), e.g. 0.1.")]
    [InlineData(nameof(TuneOptions.LoraRank), "{0} 0 must be between 1 and 4096; 8 or 16 are typical.")]
    public void A_bad_setting_is_named_by_its_property_and_worded_by_the_caller(string setting, string expected)
    {
        var bad = setting switch
        {
            nameof(TuneOptions.LearningRate) => s_ok with { LearningRate = 5 },
            nameof(TuneOptions.Steps) => s_ok with { Steps = 0 },
            nameof(TuneOptions.Epochs) => s_ok with { Epochs = 0 },
            nameof(TuneOptions.BatchSize) => s_ok with { BatchSize = 0 },
            nameof(TuneOptions.ValidationSplit) => s_ok with { ValidationSplit = 1.5 },
            _ => s_ok with { LoraRank = 0 },
        };
        var e = Refused(bad);
        Assert.Equal(setting, e.Setting);
        Assert.Equal(setting, e.ParamName);
        Assert.Equal(string.Format(expected, $"TuneOptions.{setting}"), e.Message);
        Assert.Equal(string.Format(expected, "<word>"), e.Render(_ => "<word>"));
        Assert.Equal(e.Message, e.Render(_ => null));
    }

    [Fact]
    public void Only_the_named_settings_are_placeholders()
    {
        var e = new SettingException("X", "{A} '{B}' {A}", "A");
        Assert.Equal("a '{B}' a", e.Render(_ => "a"));
    }
}
