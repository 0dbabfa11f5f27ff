using System.CommandLine;
using RagTune.Cli.Commands.Rag;
using RagTune.Evaluation.Experiments;
using RagTune.Hosting.Compare;

namespace RagTune.Cli.Commands.Compare;

/// <summary><c>ragtune compare --spec experiment.yaml</c>: base, RAG, fine-tuned, fine-tuned+RAG and RAFT+RAG measured on the same questions.</summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var spec = new Option<string>("--spec", "-s") { Description = "Experiment spec (YAML; see docs/compare.md)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Output folder for results.json, report.md, report.html and the work files", DefaultValueFactory = _ => "results" };
        var dataDir = RagCliOptions.DataDir();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress display" };
        var cacheDir = new Option<string?>("--cache-dir")
        {
            Description = "Keep every model answer and embedding in this folder (keyed by request and model hash) and replay them on a rerun: repeatable answers, but replayed timings are not measurements",
        };
        var cmd = new Command("compare", "Measure base, RAG, fine-tuned, fine-tuned+RAG and RAFT+RAG on the same questions and recommend one") { spec, output, dataDir, quiet, cacheDir };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var parsed = ExperimentSpecReader.Read(r.GetValue(spec)!);
            return await RunAsync(parsed, r.GetValue(output)!, r.GetValue(dataDir), r.GetValue(quiet), ct, r.GetValue(cacheDir));
        }));
        return cmd;
    }

    /// <summary>Runs the spec and writes the results into <paramref name="outDir"/> (shared with <c>ragtune demo</c>).</summary>
    public static async Task<int> RunAsync(ExperimentSpec spec, string outDir, string? dataDir, bool quiet, CancellationToken ct, string? cacheDir = null)
    {
        ComparisonOutcome outcome;
        try
        {
            outcome = await CompareProgress.RunAsync(quiet, progress => Comparison.RunAsync(spec, outDir, dataDir, RagCliOptions.ApiKey(), progress, ct, CliClients.Options(cacheDir)));
        }
        catch (InvalidOperationException e)
        {
            // What stops the whole experiment (no chunks, no usable generated questions) rather than one arm.
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        var (run, results, files) = outcome;
        PrintArms(run);
        Console.Out.WriteLine();
        Console.Out.WriteLine($"recommendation: {results.Recommendation.Summary}");
        foreach (var reason in results.Recommendation.Reasons) Console.Out.WriteLine($"  - {reason}");
        Console.Out.WriteLine();
        foreach (var f in files) Console.Out.WriteLine($"wrote {f}");
        Console.Out.WriteLine($"report: {files.First(f => f.EndsWith(ExperimentReport.HtmlFileName, StringComparison.Ordinal))}");
        return run.Arms.All(a => a.Error != null) ? 1 : 0;
    }

    private static void PrintArms(ExperimentRun run)
    {
        Console.Out.WriteLine($"{run.Name}: {run.Model}; {run.TrainQuestions.Count} training and {run.TestQuestions.Count} test questions");
        foreach (var arm in run.Arms)
        {
            var training = arm.Training is { } t ? $", trained {t.Steps} steps in {t.WallSeconds:F1} s" : "";
            Console.Out.WriteLine(arm.Error is { } e ? $"  {arm.Arm,-9} failed: {e}" : $"  {arm.Arm,-9} {arm.Answers.Count} answers{training}");
        }
    }
}
