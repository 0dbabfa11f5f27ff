using System.CommandLine;
using RagTune.Evaluation.Experiments;
using RagTune.Evaluation.Experiments.Demo;
using RagTune.Models.Catalog;
using RagTune.Models.Downloads;

namespace RagTune.Cli.Commands.Compare;

/// <summary>
/// <c>ragtune demo</c>: the whole comparison offline, on a generated world of fictional villages (no model knows
/// them), in a work SQLite collection inside the output folder. Writes the world, the spec it ran (so it can be run
/// again with <c>ragtune compare</c>) and the results.
/// </summary>
internal static class DemoCommand
{
    // Small chat models first: the demo should finish in minutes on a laptop.
    private static readonly string[] s_preferred = ["smollm2-135m-instruct", "qwen2.5-0.5b-instruct", "smollm2-360m-instruct", "tinyllama-1.1b-chat"];

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model file or downloaded model name (default: a small chat model from the local cache)" };
        var output = new Option<string>("--out", "-o") { Description = "Output folder", DefaultValueFactory = _ => "demo-results" };
        var quick = new Option<bool>("--quick") { Description = "A smaller world, fewer training steps and experiments (a smoke test in well under a minute with a tiny model)" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress display" };
        var cmd = new Command("demo", "Run the RAG-vs-fine-tuning comparison offline on a built-in world of fictional facts") { model, output, quick, threads, quiet };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var modelPath = ResolveModel(r.GetValue(model));
            var outDir = Path.GetFullPath(r.GetValue(output)!);
            Directory.CreateDirectory(outDir);
            bool isQuick = r.GetValue(quick);
            var world = isQuick ? new DemoWorldOptions(Villages: 12, FactsPerVillage: 1, Paraphrases: 1, Unanswerable: 2) : new DemoWorldOptions();
            var questions = DemoWorld.Write(Path.Combine(outDir, "world"), world);
            var specPath = Path.Combine(outDir, "experiment.yaml");
            File.WriteAllText(specPath, DemoWorld.Spec(modelPath, isQuick, r.GetValue(threads)));
            Console.Out.WriteLine($"demo world: {world.Villages} fictional villages, {questions.Count} questions ({Path.Combine(outDir, "world")}); model {modelPath}");
            return await CompareCommand.RunAsync(ExperimentSpecReader.Read(specPath), outDir, null, r.GetValue(quiet), ct);
        }));
        return cmd;
    }

    private static string ResolveModel(string? model)
    {
        if (model != null) return ModelResolver.Resolve(model);
        ModelCatalog? catalog = null;
        try { catalog = ModelCatalog.LoadDefault(); }
        catch (CatalogFormatException) { /* the cache can still be searched by name */ }
        var resolver = new ModelResolver(ModelDownloaderOptions.DefaultModelsDir(), catalog);
        foreach (var name in s_preferred)
            if (resolver.Find(name) is { } cached) return cached.Path;
        throw new UsageException(
            $"No model for the demo: none of {string.Join(", ", s_preferred)} is in the local cache ({ModelDownloaderOptions.DefaultModelsDir()}). " +
            "Pass a model file, e.g. `ragtune demo --model ../shared/models/stories260k/stories260K.gguf`, or download one first with `ragtune model pull smollm2-135m-instruct`.");
    }
}
