using System.Diagnostics;
using System.Text.Json;
using RagTune.TestKit;

namespace RagTune.Cli.Tests;

public sealed class TuneCommandTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static string[] TuneArgs(string data, string outDir, int steps) =>
        ["tune", "--model", Stories, "--data", data, "--out", outDir, "--steps", steps.ToString(), "--batch", "2", "--grad-accum", "2",
         "--seq-len", "48", "--eval-every", "2", "--checkpoint-every", "1", "--threads", "1", "--lr", "1e-3", "--val-split", "0.25"];

    private static string Data(TempDir dir)
    {
        var path = dir.File("data.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, 12).Select(i =>
            JsonSerializer.Serialize(new { instruction = $"Tell me about the dog number {i}.", output = $"The dog {i} ran to the park." })));
        return path;
    }

    private static string FinalLoss(string stdout) => stdout.Split('\n').Single(l => l.StartsWith("final train loss: ", StringComparison.Ordinal))[18..].Trim();

    [Fact]
    public void Tune_writes_the_adapter_and_reports_then_export_and_merge_work()
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");
        var r = CliProcess.Run(TimeSpan.FromSeconds(120), TuneArgs(Data(dir), outDir, 4));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("train: data.jsonl (alpaca): 12 records → 12 examples", r.Stderr);
        Assert.Contains("trainable parameters", r.Stderr);
        Assert.Contains("step 4/4", r.Stderr);
        Assert.Contains("best: step", r.Stdout);
        Assert.True(File.Exists(Path.Combine(outDir, "adapter", "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(outDir, "loss.svg")));

        var gguf = dir.File("lora.gguf");
        var e = CliProcess.Run(TimeSpan.FromSeconds(60), "adapter", "export", Path.Combine(outDir, "adapter"), "--model", Stories, "--format", "gguf-lora", "--out", gguf);
        Assert.True(e.ExitCode == 0, e.Stderr);
        Assert.True(File.Exists(gguf));
        var merged = dir.File("merged.gguf");
        var m = CliProcess.Run(TimeSpan.FromSeconds(60), "adapter", "merge", "--model", Stories, "--adapter", Path.Combine(outDir, "adapter"), "--out", merged);
        Assert.True(m.ExitCode == 0, m.Stderr);
        var g = CliProcess.Run(TimeSpan.FromSeconds(60), "generate", "--model", merged, "-p", "Once", "-n", "4", "--temperature", "0");
        Assert.Equal(0, g.ExitCode);
    }

    [Fact]
    public void Bad_data_fails_with_the_line_and_exit_code_1()
    {
        using var dir = new TempDir();
        var bad = dir.File("bad.jsonl");
        File.WriteAllText(bad, "{\"instruction\": \"x\", \"output\": \"\"}\n");
        var r = CliProcess.Run(TimeSpan.FromSeconds(60), TuneArgs(bad, dir.File("out"), 2));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("bad.jsonl:1: field 'output' is empty", r.Stderr);
        var t = CliProcess.Run(TimeSpan.FromSeconds(60), [.. TuneArgs(Data(dir), dir.File("out"), 2), "--targets", "q,lm_head"]);
        Assert.Equal(1, t.ExitCode);
        Assert.Contains("Unknown LoRA target 'lm_head'", t.Stderr);
    }

    [Theory]
    [InlineData("--lr", "5", "error: --lr 5 must be in (0, 1); 0.0002 is typical for LoRA.")]
    [InlineData("--steps", "0", "error: --steps 0 must be positive.")]
    [InlineData("--epochs", "0", "error: --epochs 0 must be positive.")]
    [InlineData("--batch", "0", "error: --batch 0 must be between 1 and 4096.")]
    [InlineData("--val-split", "1.5", "error: --val-split 1.5 must be in [0, 1), e.g. 0.1.")]
    public void A_bad_setting_is_named_by_its_flag(string flag, string value, string message)
    {
        using var dir = new TempDir();
        string[] args = ["tune", "--model", Stories, "--data", Data(dir), "--out", dir.File("out"), "--threads", "1", flag, value];
        var r = CliProcess.Run(TimeSpan.FromSeconds(60), args);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("TuneOptions.", r.Stderr);
    }

    [Fact]
    public void A_validation_file_refuses_a_typed_split_even_at_the_default_value()
    {
        using var dir = new TempDir();
        var data = Data(dir);
        var r = CliProcess.Run(TimeSpan.FromSeconds(60), ["tune", "--model", Stories, "--data", data, "--val", data, "--val-split", "0.1", "--out", dir.File("out")]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error: Pass either --val <file> or --val-split, not both.", r.Stderr);
    }

    [Fact]
    public void A_run_killed_mid_way_and_resumed_ends_with_the_same_loss()
    {
        using var dir = new TempDir();
        var data = Data(dir);
        var full = CliProcess.Run(TimeSpan.FromSeconds(180), TuneArgs(data, dir.File("full"), 8));
        Assert.True(full.ExitCode == 0, full.Stderr);

        var outDir = dir.File("killed");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"));
        foreach (var a in TuneArgs(data, outDir, 8)) psi.ArgumentList.Add(a);
        using (var p = Process.Start(psi)!)
        {
            p.OutputDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            var killed = false;
            while (!p.HasExited && !killed)
            {
                var line = p.StandardError.ReadLine();
                if (line == null) break;
                if (line.StartsWith("step 3/8", StringComparison.Ordinal)) { p.Kill(entireProcessTree: true); killed = true; }
            }
            p.WaitForExit(60_000);
            Assert.True(killed, "the run finished before it could be killed");
        }
        var resumed = CliProcess.Run(TimeSpan.FromSeconds(180), [.. TuneArgs(data, outDir, 8), "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(float.Parse(FinalLoss(full.Stdout), System.Globalization.CultureInfo.InvariantCulture),
            float.Parse(FinalLoss(resumed.Stdout), System.Globalization.CultureInfo.InvariantCulture), 1e-5f);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Runs_killed_at_seeded_random_moments_resume_to_the_uninterrupted_result()
    {
        // Checkpoints every step, so kills land in steps, in evaluations and while a checkpoint is being written.
        using var dir = new TempDir();
        var data = Data(dir);
        var sw = Stopwatch.StartNew();
        var full = CliProcess.Run(TimeSpan.FromSeconds(180), TuneArgs(data, dir.File("full"), 10));
        Assert.True(full.ExitCode == 0, full.Stderr);
        var span = sw.Elapsed;
        var reference = File.ReadAllBytes(Path.Combine(dir.File("full"), "adapter", "adapter_model.safetensors"));

        var rng = new Random(7);
        int killedMidRun = 0;
        for (int k = 0; k < 4; k++)
        {
            var outDir = dir.File($"killed-{k}");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"));
            foreach (var a in TuneArgs(data, outDir, 10)) psi.ArgumentList.Add(a);
            using (var p = Process.Start(psi)!)
            {
                _ = p.StandardOutput.ReadToEndAsync();
                // After a seeded step's line, a seeded fraction of a step's time: inside the next step or its checkpoint write.
                var after = $"step {1 + rng.Next(8)}/10";
                var wait = span / 10 * rng.NextDouble();
                for (var line = p.StandardError.ReadLine(); line != null; line = p.StandardError.ReadLine())
                    if (line.StartsWith(after, StringComparison.Ordinal))
                    {
                        if (!p.WaitForExit(wait))
                        {
                            p.Kill(entireProcessTree: true);
                            killedMidRun++;
                        }
                        break;
                    }
                Assert.True(p.WaitForExit(60_000));
            }
            // Resuming from whatever checkpoint the kill left ends where the uninterrupted run did. A kill before the
            // first checkpoint leaves none: --resume is refused saying so, and a run started over ends there too.
            bool checkpointed = Directory.Exists(Path.Combine(outDir, "checkpoint"));
            if (!checkpointed)
            {
                var refused = CliProcess.Run(TimeSpan.FromSeconds(180), [.. TuneArgs(data, outDir, 10), "--resume"]);
                Assert.Equal(1, refused.ExitCode);
                Assert.Contains("--resume: no checkpoint in", refused.Stderr);
            }
            string[] again = checkpointed ? [.. TuneArgs(data, outDir, 10), "--resume"] : TuneArgs(data, outDir, 10);
            var resumed = CliProcess.Run(TimeSpan.FromSeconds(180), again);
            Assert.True(resumed.ExitCode == 0, $"kill {k}: {resumed.Stderr}");
            Assert.Equal(FinalLoss(full.Stdout), FinalLoss(resumed.Stdout));
            Assert.Equal(reference, File.ReadAllBytes(Path.Combine(outDir, "adapter", "adapter_model.safetensors")));
        }
        Assert.True(killedMidRun >= 3, $"only {killedMidRun} of 4 kills landed before the run finished");
    }
}
