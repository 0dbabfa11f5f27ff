using RagTune.TestKit;

namespace RagTune.Cli.Tests;

/// <summary><c>ragtune model create-random --format safetensors</c> and <c>ragtune model convert</c>, end to end.</summary>
public sealed class ConvertTests
{
    private static string LogitsJson(string model) =>
        CliProcess.Run("model", "logits", "-m", model, "--tokens", "1,5,9,200", "--json", "--threads", "1").Stdout.Trim();

    [Fact]
    public void A_random_qwen2_folder_converts_to_a_gguf_with_the_same_logits()
    {
        using var dir = new TempDir();
        var folder = dir.File("hf");
        var create = CliProcess.Run("model", "create-random", "--preset", "tiny", "--arch", "qwen2", "--format", "safetensors", "--type", "f32", "--seed", "4", "--out", folder);
        Assert.Equal(0, create.ExitCode);
        Assert.True(File.Exists(Path.Combine(folder, "config.json")));
        Assert.True(File.Exists(Path.Combine(folder, "model.safetensors")));

        var gguf = dir.File("m.gguf");
        var convert = CliProcess.Run("model", "convert", folder, "--type", "f32", "--out", gguf);
        Assert.Equal(0, convert.ExitCode);
        Assert.Contains("warning:", convert.Stderr);
        Assert.Contains("tokenizer", convert.Stderr);

        var a = LogitsJson(folder).Trim('[', ']').Split(',').Select(float.Parse).ToArray();
        var b = LogitsJson(gguf).Trim('[', ']').Split(',').Select(float.Parse).ToArray();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(MathF.Abs(a[i] - b[i]) <= 1e-4f * MathF.Max(1, MathF.Abs(a[i])), $"logit {i}: {a[i]} vs {b[i]}");
        Assert.Contains("qwen2", CliProcess.Run("model", "inspect", gguf).Stdout);
    }

    [Fact]
    public void Requantizing_a_gguf_and_bad_inputs_report_clearly()
    {
        using var dir = new TempDir();
        var q = dir.File("q.gguf");
        var r = CliProcess.Run("model", "convert", TinyModels.Get("tiny", "f32"), "--type", "q8_0", "--out", q);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("q8_0", r.Stdout);

        var missing = CliProcess.Run("model", "convert", dir.File("nope"), "--out", dir.File("x.gguf"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr);

        var quantSt = CliProcess.Run("model", "create-random", "--preset", "tiny", "--format", "safetensors", "--type", "q8_0", "--out", dir.File("hf"));
        Assert.Equal(2, quantSt.ExitCode);
        Assert.Contains("f32, f16 or bf16", quantSt.Stderr);

        var badArch = CliProcess.Run("model", "create-random", "--preset", "tiny", "--arch", "gemma", "--out", dir.File("g.gguf"));
        Assert.Equal(2, badArch.ExitCode);
        Assert.Contains("qwen2", badArch.Stderr);
    }
}
