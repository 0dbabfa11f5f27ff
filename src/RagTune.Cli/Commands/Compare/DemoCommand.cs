using System.CommandLine;
using Microsoft.Extensions.AI;
using RagTune.Evaluation.Experiments;
using RagTune.Evaluation.Experiments.Demo;
using RagTune.FineTuning.Training;
using RagTune.Hosting.Compare;
using RagTune.Hosting.Models;
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
        var embed = new Option<string?>("--embed-model")
        {
            Description = "Embedding model for hybrid retrieval (catalog/cache name or folder), or 'none' for BM25 only (default: a real encoder already in the model cache, e.g. all-minilm-l6-v2, else BM25)",
        };
        var cmd = new Command("demo", "Run the RAG-vs-fine-tuning comparison offline on a built-in world of fictional facts") { model, output, quick, threads, quiet, embed };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var outDir = Path.GetFullPath(r.GetValue(output)!);
            Directory.CreateDirectory(outDir);
            bool isQuick = r.GetValue(quick);
            var world = isQuick ? new DemoWorldOptions(Villages: 12, FactsPerVillage: 1, Paraphrases: 1, Unanswerable: 2) : new DemoWorldOptions();
            var modelPath = r.GetValue(model) is { } m ? ModelResolver.Resolve(m) : BuiltInModel(world, isQuick, r.GetValue(threads), r.GetValue(quiet), ct);
            var questions = DemoWorld.Write(Path.Combine(outDir, "world"), world);
            var specPath = Path.Combine(outDir, "experiment.yaml");
            var embedModel = EmbedModel(r.GetValue(embed));
            File.WriteAllText(specPath, DemoWorld.Spec(modelPath, isQuick, r.GetValue(threads), embedModel));
            Console.Out.WriteLine($"demo world: {world.Villages} fictional villages, {questions.Count} questions ({Path.Combine(outDir, "world")}); model {modelPath}");
            Console.Out.WriteLine(embedModel != null
                ? $"retrieval: hybrid (BM25 + {embedModel}{(r.GetValue(embed) == null ? ", found in the model cache" : "")})"
                : $"retrieval: BM25{(r.GetValue(embed) == null ? $" (no real encoder in the model cache; `ragtune model pull {CachedEncoders.Names[0]}`, or with --source nuget, adds hybrid search)" : "")}");
            return await CompareCommand.RunAsync(ExperimentSpecReader.Read(specPath), outDir, null, r.GetValue(quiet), ct);
        }));
        cmd.Subcommands.Add(BuildModelCommand());
        cmd.Subcommands.Add(ProbeCommand());
        return cmd;
    }

    // The named model ('none': BM25 only), else the first real encoder already pulled (as compare picks one): the
    // demo then searches as a collection with an embedding model is searched by default (hybrid), and never
    // downloads anything itself.
    private static string? EmbedModel(string? requested) =>
        requested == null ? CachedEncoders.Find() : requested.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : requested;

    // `ragtune demo probe --model X`: the reading probe on any model (does it copy a value out of a shown passage?).
    private static Command ProbeCommand()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model file or downloaded model name", Required = true };
        var villages = new Option<int>("--villages") { Description = "Fresh villages to ask about", DefaultValueFactory = _ => 80 };
        var sources = new Option<int>("--sources") { Description = "Sources shown per question", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var cmd = new Command("probe", "Measure how well a model reads: grounded questions over fresh villages' documents") { model, villages, sources, threads };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            if (r.GetValue(villages) < 4) throw new ArgumentException($"--villages must be at least 4 (got {r.GetValue(villages)}).");
            using var chat = ChatModels.Create(new ChatModelSettings { Model = r.GetValue(model), Threads = r.GetValue(threads) });
            await WriteProbeAsync(chat, r.GetValue(villages), r.GetValue(sources), ct);
            return 0;
        }));
        return cmd;
    }

    private static async Task WriteProbeAsync(IChatClient chat, int villages, int sources, CancellationToken ct)
    {
        var score = await DemoReadingProbe.RunAsync(chat, villages, sources, ct);
        Console.Out.WriteLine($"reading probe on {villages} fresh villages: {score}");
        foreach (var sample in score.Samples) Console.Out.WriteLine("  " + sample);
    }

    // `ragtune demo build-model`: builds the demo model with the given recipe (seeded, so a rebuild gives the same
    // file), then measures how well it reads on fresh villages.
    private static Command BuildModelCommand()
    {
        var defaults = new DemoModelOptions();
        var copySteps = new Option<int>("--copy-steps") { Description = "Steps of the copy drill (0: none)", DefaultValueFactory = _ => defaults.CopySteps };
        var lookupSteps = new Option<int>("--lookup-steps") { Description = "Steps of the lookup drill (0: none)", DefaultValueFactory = _ => defaults.LookupSteps };
        var lookupBatch = new Option<int>("--lookup-batch") { Description = "Examples per step of the lookup drill", DefaultValueFactory = _ => defaults.LookupBatch };
        var steps = new Option<int>("--steps") { Description = "Steps on the reading corpus", DefaultValueFactory = _ => defaults.Steps };
        var dim = new Option<int>("--dim") { Description = "Model width", DefaultValueFactory = _ => defaults.Dim };
        var layers = new Option<int>("--layers") { Description = "Transformer blocks", DefaultValueFactory = _ => defaults.Layers };
        var heads = new Option<int>("--heads") { Description = "Attention heads", DefaultValueFactory = _ => defaults.Heads };
        var hidden = new Option<int>("--hidden") { Description = "Feed-forward width", DefaultValueFactory = _ => defaults.HiddenDim };
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size", DefaultValueFactory = _ => defaults.VocabSize };
        var villages = new Option<int>("--villages") { Description = "Villages in the pretraining corpus", DefaultValueFactory = _ => defaults.CorpusVillages };
        var batch = new Option<int>("--batch") { Description = "Examples per step", DefaultValueFactory = _ => defaults.Batch };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => defaults.LearningRate };
        var sources = new Option<int>("--sources") { Description = "Sources shown per grounded example", DefaultValueFactory = _ => defaults.Sources };
        var canon = new Option<int>("--canon") { Description = "Canon layer kernel before each attention (0: none)", DefaultValueFactory = _ => defaults.CanonKernel };
        var questions = new Option<int>("--questions-per-passage") { Description = "Facts asked in turn over each passage of the reading corpus", DefaultValueFactory = _ => defaults.QuestionsPerPassage };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights and data order", DefaultValueFactory = _ => defaults.Seed };
        var probe = new Option<int>("--probe") { Description = "Fresh villages to measure reading on (0: none)", DefaultValueFactory = _ => 80 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var output = new Option<string?>("--out", "-o") { Description = "Also copy the model to this file (to commit it as the demo's model)" };
        var cmd = new Command("build-model", "Build (or find in the cache) the demo's own model and measure how well it reads a passage") { copySteps, lookupSteps, lookupBatch, steps, dim, layers, heads, hidden, vocab, villages, batch, lr, sources, canon, questions, seed, probe, threads, output };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var options = defaults with
            {
                CopySteps = r.GetValue(copySteps), LookupSteps = r.GetValue(lookupSteps), LookupBatch = r.GetValue(lookupBatch), Steps = r.GetValue(steps), Dim = r.GetValue(dim), Layers = r.GetValue(layers), Heads = r.GetValue(heads), HiddenDim = r.GetValue(hidden),
                VocabSize = r.GetValue(vocab), CorpusVillages = r.GetValue(villages), Batch = r.GetValue(batch), LearningRate = r.GetValue(lr),
                Sources = r.GetValue(sources), CanonKernel = r.GetValue(canon), QuestionsPerPassage = r.GetValue(questions), Seed = r.GetValue(seed), Threads = r.GetValue(threads),
            };
            var path = BuildModel(options, quiet: false, ct);
            var sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();
            Console.Out.WriteLine($"recipe key {options.Key()}, sha256 {sha}, {new FileInfo(path).Length / 1024.0 / 1024:F1} MiB");
            if (r.GetValue(output) is { } copy)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(copy))!);
                File.Copy(path, copy, overwrite: true);
                Console.Out.WriteLine($"copied to {copy}");
            }
            if (r.GetValue(probe) is > 0 and var n)
            {
                using var chat = ChatModels.Create(new ChatModelSettings { Model = path, Threads = options.Threads });
                await WriteProbeAsync(chat, n, options.Sources, ct);
            }
            return 0;
        }));
        return cmd;
    }

    // The demo's own model: pretrained on another generated world, so it reads the formats but knows no test fact.
    private static string BuiltInModel(DemoWorldOptions world, bool quick, int threads, bool quiet, CancellationToken ct)
    {
        // --quick asks fewer questions of a smaller world, with the same model when it is at hand (cached or committed;
        // its corpus was built against the full world, so it is checked here to name none of the quick world's villages
        // either); otherwise with a tiny model built in seconds, since a smoke test must not pretrain for minutes.
        var options = new DemoModelOptions { Threads = threads };
        if (quick && !File.Exists(DemoModelBuilder.PathFor(options)) && !CommittedDemoModel.Fits(options))
            options = DemoModelOptions.Quick with { TestWorld = world, Threads = threads };
        var path = BuildModel(options, quiet, ct);
        if (world != options.TestWorld)
            DemoCorpus.CheckDisjoint(DemoCorpus.Build(options.CorpusOptions, options.TestWorld), DemoWorld.Generate(world).Names);
        return path;
    }

    private static string BuildModel(DemoModelOptions options, bool quiet, CancellationToken ct)
    {
        var path = DemoModelBuilder.PathFor(options);
        if (!File.Exists(path) && !CommittedDemoModel.Fits(options))
            Console.Out.WriteLine($"pretraining the demo model from scratch ({options.TotalSteps} steps in three stages, dim {options.Dim}, {options.Layers} layers; once, then cached as {path})");
        var progress = quiet ? null : new Progress<TrainingProgress>(p =>
        {
            if (p.Step % 25 == 0 || p.Step == p.TotalSteps) Console.Out.WriteLine($"  step {p.Step}/{p.TotalSteps}  loss {p.TrainLoss:F3}  eta {p.Eta:mm\\:ss}");
        });
        var built = DemoModelBuilder.Build(options, progress, ct, warn: m => Console.Error.WriteLine("warning: " + m),
            stage: quiet ? null : (name, n) => Console.Out.WriteLine($" {name}: {n} steps"));
        Console.Out.WriteLine(built.Committed ? $"demo model: {built.Path} (the committed model, sha256 checked)" : built.Reused
            ? $"demo model: {built.Path} (cached)"
            : $"demo model: {built.Path} ({built.Steps} steps in {built.Seconds:F0} s, loss {built.FirstLoss:F2} -> {built.LastLoss:F2})");
        return built.Path;
    }
}
