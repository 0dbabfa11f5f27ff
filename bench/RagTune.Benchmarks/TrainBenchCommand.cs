using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RagTune.Engine.Models;
using RagTune.Engine.Training;

namespace RagTune.Benchmarks;

/// <summary>
/// <c>ragtune bench train</c>: LoRA training speed (tokens/s, s/step) and peak memory on the engine, beside the PyTorch
/// CPU reference (<c>dev/reference/bench_torch.py --train-lora</c>) at the same shape, rank, targets, batch and threads,
/// measured in the same run so the ratio means something on a shared machine.
/// </summary>
internal static class TrainBenchCommand
{
    public const string ReferenceScript = "dev/reference/bench_torch.py";
    public const string ReferencePython = "/usr/bin/python3";

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model file (any type: a quantized base trains QLoRA-style)", Required = true };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after one warm-up step)", DefaultValueFactory = _ => 3 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "Sequences per step", DefaultValueFactory = _ => 4 };
        var rank = new Option<int>("--rank", "--lora-rank") { Description = "LoRA rank (targets: q,k,v,o,gate,up,down)", DefaultValueFactory = _ => 8 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (the reference uses the same)", DefaultValueFactory = _ => 2 };
        var recompute = new Option<bool>("--recompute") { Description = "Recompute activations in the backward pass (less memory)" };
        var noReference = new Option<bool>("--no-reference") { Description = "Skip the PyTorch reference" };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var cmd = new Command("train", "LoRA training tokens/s, s/step and peak RSS, beside the PyTorch reference at the same shape")
        {
            model, steps, seqLen, batch, rank, threads, recompute, noReference, json,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(() =>
        {
            var path = RagTune.Models.Downloads.ModelResolver.Resolve(r.GetValue(model)!);
            var ours = Run(path, r.GetValue(steps), r.GetValue(batch), r.GetValue(seqLen), r.GetValue(rank), r.GetValue(threads), r.GetValue(recompute), ct);
            string? why = null;
            var reference = r.GetValue(noReference) ? null : RunReference(ours, r.GetValue(steps), out why);
            var result = ours with
            {
                Reference = reference,
                ReferenceSkipped = r.GetValue(noReference) ? "--no-reference" : why,
                TokensPerSecondOverReference = reference is null ? null : ours.TrainTokensPerSecond / reference.TrainTokensPerSecond,
                PeakRssOverReference = reference is null ? null : ours.PeakRssMib / reference.PeakRssMib,
            };
            if (r.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(result, TrainBenchJson.Readable.TrainBenchResult));
                return 0;
            }
            Console.Out.WriteLine($"ragtune: {result.Model} LoRA r{result.Rank} all targets, batch {result.Batch} x {result.SeqLen}, {result.Threads} threads{(result.Recompute ? ", recompute" : "")}: " +
                $"{result.StepSeconds:F3} s/step, {result.TrainTokensPerSecond:F1} tokens/s, peak RSS {result.PeakRssMib:F0} MiB (run state {result.RunStateMib:F0} MiB), load {result.LoadAverage}");
            if (reference is not null)
                Console.Out.WriteLine($"pytorch {reference.TorchVersion}: {reference.StepSeconds:F3} s/step, {reference.TrainTokensPerSecond:F1} tokens/s, peak RSS {reference.PeakRssMib:F0} MiB; " +
                    $"ragtune/pytorch: {result.TokensPerSecondOverReference:F2}x tokens/s, {result.PeakRssOverReference:F2}x memory");
            else
                Console.Out.WriteLine($"pytorch reference skipped: {result.ReferenceSkipped}");
            return 0;
        }));
        return cmd;
    }

    internal static TrainBenchResult Run(string path, int steps, int batch, int seqLen, int rank, int threads, bool recompute, CancellationToken ct)
    {
        if (steps < 1 || batch < 1 || seqLen < 2) throw new UsageException("--steps and --batch must be positive and --seq-len at least 2.");
        using var model = TransformerModel.Load(path);
        var c = model.Config;
        if (seqLen > c.ContextLength) throw new UsageException($"--seq-len {seqLen} exceeds the model's context of {c.ContextLength}.");
        var adapter = new LoraAdapter(c, new LoraConfig(Rank: rank, Alpha: 2 * rank, Dropout: 0f), seed: 1);
        using var session = new TrainingSession(model, adapter, new TrainingOptions(batch, seqLen, threads, recompute));
        var optimizer = new AdamW(adapter.Parameters);

        // Fixed random tokens so every run measures the same work; every position is a target, as in the reference.
        var rng = new Random(2);
        var tokens = new int[batch * (seqLen + 1)];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = rng.Next(c.VocabSize);
        var inputs = new int[batch * seqLen];
        var targets = new int[batch * seqLen];
        for (int b = 0; b < batch; b++)
        {
            tokens.AsSpan(b * (seqLen + 1), seqLen).CopyTo(inputs.AsSpan(b * seqLen));
            tokens.AsSpan(b * (seqLen + 1) + 1, seqLen).CopyTo(targets.AsSpan(b * seqLen));
        }

        float loss = 0;
        void Step()
        {
            session.ZeroGrad();
            loss = session.ForwardBackward(inputs, targets);
            optimizer.Step(1e-4f);
        }
        Step(); // warm-up: JIT, page faults of the run state
        var sw = Stopwatch.StartNew();
        for (int s = 0; s < steps; s++)
        {
            ct.ThrowIfCancellationRequested();
            Step();
        }
        double stepSeconds = sw.Elapsed.TotalSeconds / steps;
        return new TrainBenchResult(
            Model: Path.GetFileName(path), Architecture: c.Architecture, Rank: rank, Batch: batch, SeqLen: seqLen, Threads: session.Options.Threads,
            Recompute: recompute, TimedSteps: steps, StepSeconds: stepSeconds, TrainTokensPerSecond: batch * seqLen / stepSeconds,
            PeakRssMib: Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0, RunStateMib: session.AllocatedBytes / 1048576.0,
            FinalLoss: loss, LoadAverage: LoadAverage(), Shape: Shape(model));
    }

    /// <summary>The reference at the same shape, or null with <paramref name="why"/> when it cannot run here.</summary>
    private static ReferenceResult? RunReference(TrainBenchResult ours, int steps, out string? why)
    {
        why = null;
        var script = FindScript();
        if (script is null) { why = $"{ReferenceScript} not found (run from a RagTune checkout)"; return null; }
        if (!File.Exists(ReferencePython)) { why = $"{ReferencePython} not found (Debian's python3 with python3-torch runs the reference)"; return null; }
        var psi = TorchProcess.StartInfo(ReferencePython);
        foreach (var arg in new[]
        {
            script, "--train-lora", "--json", "--shape", ours.Shape, "--lora-rank", ours.Rank.ToString(CultureInfo.InvariantCulture),
            "--batch", ours.Batch.ToString(CultureInfo.InvariantCulture), "--seq", ours.SeqLen.ToString(CultureInfo.InvariantCulture),
            "--threads", ours.Threads.ToString(CultureInfo.InvariantCulture), "--steps", steps.ToString(CultureInfo.InvariantCulture),
        })
            psi.ArgumentList.Add(arg);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {ReferencePython}.");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            var err = stderr.Result.Trim();
            why = err.Contains("No module named 'torch'", StringComparison.Ordinal)
                ? $"{ReferencePython} has no torch (apt-get install python3-torch)"
                : $"the reference failed (exit {p.ExitCode}): {err[Math.Max(0, err.Length - 400)..]}";
            return null;
        }
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last();
        var o = JsonNode.Parse(line)!;
        return new ReferenceResult(
            TorchVersion: o["torch_version"]!.GetValue<string>(), StepSeconds: o["step_s"]!.GetValue<double>(),
            TrainTokensPerSecond: o["train_tokens_per_s"]!.GetValue<double>(), PeakRssMib: o["peak_rss_mib"]!.GetValue<double>(),
            Threads: o["threads"]!.GetValue<int>(), FinalLoss: o["final_loss"]!.GetValue<double>());
    }

    private static string? FindScript()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, ReferenceScript);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>The model's shape in bench_torch.py's terms (its --shape JSON).</summary>
    private static string Shape(TransformerModel m)
    {
        var c = m.Config;
        return new JsonObject
        {
            ["hidden"] = c.Dim, ["layers"] = c.Layers, ["heads"] = c.Heads, ["kv_heads"] = c.KvHeads, ["inter"] = c.HiddenDim,
            ["vocab"] = c.VocabSize, ["theta"] = c.RopeTheta, ["tied"] = m.Weights.TiedOutput, ["qkv_bias"] = m.Weights.QkvBias,
            ["eps"] = c.NormEps,
        }.ToJsonString();
    }

    private static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
    }
}

/// <summary>The PyTorch reference's figures from the same run.</summary>
internal sealed record ReferenceResult(string TorchVersion, double StepSeconds, double TrainTokensPerSecond, double PeakRssMib, int Threads, double FinalLoss);

/// <summary>Figures of one <c>bench train</c> run.</summary>
internal sealed record TrainBenchResult(
    string Model, string Architecture, int Rank, int Batch, int SeqLen, int Threads, bool Recompute, int TimedSteps, double StepSeconds,
    double TrainTokensPerSecond, double PeakRssMib, double RunStateMib, float FinalLoss, string LoadAverage, string Shape)
{
    public ReferenceResult? Reference { get; init; }
    public string? ReferenceSkipped { get; init; }
    public double? TokensPerSecondOverReference { get; init; }
    public double? PeakRssOverReference { get; init; }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(TrainBenchResult))]
internal sealed partial class TrainBenchJson : System.Text.Json.Serialization.JsonSerializerContext
{
    private static TrainBenchJson? s_readable;

    /// <summary>The same contract with printable characters unescaped (<see cref="ReadableJson"/>); made on first use, after <c>Default</c>.</summary>
    public static TrainBenchJson Readable => s_readable ??= new(ReadableJson.Options(Default.Options));
}
