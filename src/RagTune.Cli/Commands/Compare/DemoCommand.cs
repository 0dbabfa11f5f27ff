using System.CommandLine;
using RagTune.Evaluation.Experiments;
using RagTune.Evaluation.Experiments.Demo;
using RagTune.FineTuning.Training;
using RagTune.Models.Downloads;

namespace RagTune.Cli.Commands.Compare;

/// <summary>
/// <c>ragtune demo</c>: the whole comparison offline, on a generated world of fictional villages (no model knows
/// them), in a work SQLite collection inside the output folder. Writes the world, the spec it ran (so it can be run
/// again with <c>ragtune compare</c>) and the results.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model file or downloaded model name (default: RagTune's own demo model, pretrained on first use and cached)" };
        var output = new Option<string>("--out", "-o") { Description = "Output folder", DefaultValueFactory = _ => "demo-results" };
        var quick = new Option<bool>("--quick") { Description = "A smaller world, fewer training steps and experiments, a tiny built-in model (a smoke test in about a minute)" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress display" };
        var cmd = new Command("demo", "Run the RAG-vs-fine-tuning comparison offline on a built-in world of fictional facts") { model, output, quick, threads, quiet };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var outDir = Path.GetFullPath(r.GetValue(output)!);
            Directory.CreateDirectory(outDir);
            bool isQuick = r.GetValue(quick);
            var world = isQuick ? new DemoWorldOptions(Villages: 12, FactsPerVillage: 1, Paraphrases: 1, Unanswerable: 2) : new DemoWorldOptions();
            var modelPath = r.GetValue(model) is { } m ? ModelResolver.Resolve(m) : BuiltInModel(world, isQuick, r.GetValue(threads), r.GetValue(quiet), ct);
            var questions = DemoWorld.Write(Path.Combine(outDir, "world"), world);
            var specPath = Path.Combine(outDir, "experiment.yaml");
            File.WriteAllText(specPath, DemoWorld.Spec(modelPath, isQuick, r.GetValue(threads)));
            Console.Out.WriteLine($"demo world: {world.Villages} fictional villages, {questions.Count} questions ({Path.Combine(outDir, "world")}); model {modelPath}");
            return await CompareCommand.RunAsync(ExperimentSpecReader.Read(specPath), outDir, null, r.GetValue(quiet), ct);
        }));
        return cmd;
    }

    // The demo's own model: pretrained on another generated world, so it reads the formats but knows no test fact.
    private static string BuiltInModel(DemoWorldOptions world, bool quick, int threads, bool quiet, CancellationToken ct)
    {
        var options = (quick ? DemoModelOptions.Quick : new DemoModelOptions()) with { TestWorld = world, Threads = threads };
        var path = DemoModelBuilder.PathFor(options);
        if (!File.Exists(path))
            Console.Out.WriteLine($"pretraining the demo model from scratch ({options.Steps} steps, dim {options.Dim}, {options.Layers} layers; once, then cached as {path})");
        var progress = quiet ? null : new Progress<TrainingProgress>(p =>
        {
            if (p.Step % 25 == 0 || p.Step == p.TotalSteps) Console.Out.WriteLine($"  step {p.Step}/{p.TotalSteps}  loss {p.TrainLoss:F3}  eta {p.Eta:mm\\:ss}");
        });
        var built = DemoModelBuilder.Build(options, progress, ct);
        Console.Out.WriteLine(built.Reused
            ? $"demo model: {built.Path} (cached)"
            : $"demo model: {built.Path} ({built.Steps} steps in {built.Seconds:F0} s, loss {built.FirstLoss:F2} -> {built.LastLoss:F2})");
        return built.Path;
    }
}
