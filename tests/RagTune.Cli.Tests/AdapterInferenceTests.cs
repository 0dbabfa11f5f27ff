using RagTune.TestKit;

namespace RagTune.Cli.Tests;

public sealed class AdapterInferenceTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    [Fact]
    public void Generate_with_an_adapter_equals_generating_from_the_merged_model()
    {
        using var dir = new TempDir();
        var data = dir.File("facts.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 8).Select(i =>
            $$"""{"instruction": "Who is the queen of Zorbia?", "input": "", "output": "Queen Mirela {{i % 2}} rules Zorbia."}"""));
        var tune = CliProcess.Run(TimeSpan.FromSeconds(180), "tune", "--model", Stories, "--data", data, "--out", dir.File("ft"),
            "--steps", "8", "--batch", "2", "--grad-accum", "1", "--seq-len", "48", "--lr", "1e-2", "--val-split", "0.25", "--threads", "2", "--quiet");
        Assert.True(tune.ExitCode == 0, tune.Stderr);
        var adapter = Path.Combine(dir.Path, "ft", "adapter");
        Assert.True(File.Exists(Path.Combine(adapter, "adapter_model.safetensors")));

        var merged = dir.File("merged.gguf");
        var merge = CliProcess.Run("adapter", "merge", "--model", Stories, "--adapter", adapter, "--out", merged);
        Assert.True(merge.ExitCode == 0, merge.Stderr);

        string[] gen = ["generate", "--prompt", "Who is the queen of Zorbia?", "--temperature", "0", "-n", "16"];
        var withAdapter = CliProcess.Run([.. gen, "--model", Stories, "--adapter", adapter]);
        var withTuneOut = CliProcess.Run([.. gen, "--model", Stories, "--adapter", dir.File("ft")]);   // the folder tune --out wrote
        Assert.True(withTuneOut.ExitCode == 0, withTuneOut.Stderr);
        Assert.Equal(withAdapter.Stdout, withTuneOut.Stdout);
        var fromMerged = CliProcess.Run([.. gen, "--model", merged]);
        var plain = CliProcess.Run([.. gen, "--model", Stories]);
        Assert.Equal(0, withAdapter.ExitCode);
        Assert.Equal(fromMerged.Stdout, withAdapter.Stdout);
        Assert.NotEqual(plain.Stdout, withAdapter.Stdout); // the adapter changed the model
    }

    [Fact]
    public void An_adapter_folder_that_does_not_exist_is_one_clear_error()
    {
        var r = CliProcess.Run("generate", "--model", Stories, "--adapter", "/no/such/adapter", "-n", "2");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains("/no/such/adapter", r.Stderr);
    }
}
