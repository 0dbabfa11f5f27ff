using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Evaluation.Experiments.Demo;
using RagTune.FineTuning.Datasets;
using RagTune.FineTuning.Training;
using RagTune.Models.Creation;
using RagTune.Models.Downloads;

namespace RagTune.Cli.Commands.Compare;

/// <summary>
/// The demo model's shape and pretraining budget. The defaults finish in a few minutes on two cores; every field
/// except <see cref="Threads"/> and <see cref="CacheDir"/> is part of the cache key.
/// </summary>
internal sealed record DemoModelOptions
{
    /// <summary>Steps of the copy drill (<see cref="DemoCurriculum.Copy"/>), the first stage.</summary>
    public int CopySteps { get; init; } = 1200;
    /// <summary>Steps of the lookup drill (<see cref="DemoCurriculum.Lookup"/>), the second stage.</summary>
    public int LookupSteps { get; init; } = 400;
    /// <summary>Examples per step of the lookup drill (its sequences are short, so twice the reading batch costs about the same).</summary>
    public int LookupBatch { get; init; } = 32;
    /// <summary>Steps on the reading corpus (<see cref="DemoCorpus"/>), the last stage.</summary>
    public int Steps { get; init; } = 600;
    public int Dim { get; init; } = 96;
    public int Layers { get; init; } = 3;
    public int Heads { get; init; } = 4;
    public int HiddenDim { get; init; } = 256;
    public int ContextLength { get; init; } = 512;
    public int VocabSize { get; init; } = 1536;
    public int CorpusVillages { get; init; } = 4000;
    public int Batch { get; init; } = 16;
    /// <summary>Kernel of the canon layer before each attention (0: a plain llama). See <see cref="RagTune.Engine.Kernels.Canon"/>.</summary>
    public int CanonKernel { get; init; } = 4;
    /// <summary>Facts asked in turn over each passage of the reading corpus.</summary>
    public int QuestionsPerPassage { get; init; } = 3;
    /// <summary>Sources shown in each grounded example (the demo spec's <c>top_k</c>).</summary>
    public int Sources { get; init; } = 1;
    public int SeqLen { get; init; } = 320;
    public float LearningRate { get; init; } = 3e-3f;
    public ulong Seed { get; init; } = 7;
    public int Threads { get; init; }

    /// <summary>Where built models are kept (default: the models cache, ~/.ragtune/models).</summary>
    public string CacheDir { get; init; } = ModelDownloaderOptions.DefaultModelsDir();

    /// <summary>The test world the corpus must not overlap (the demo's, full or quick).</summary>
    public DemoWorldOptions TestWorld { get; init; } = new();

    /// <summary>A budget for tests and <c>demo --quick</c>: a tiny model and a handful of steps.</summary>
    public static DemoModelOptions Quick => new() { CopySteps = 4, LookupSteps = 4, LookupBatch = 4, Steps = 16, Dim = 32, Layers = 1, Heads = 2, HiddenDim = 64, VocabSize = 400, CorpusVillages = 12, Batch = 4, SeqLen = 256, LearningRate = 1e-2f };

    /// <summary>Every step of the three stages.</summary>
    public int TotalSteps => CopySteps + LookupSteps + Steps;

    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(Steps > 0, $"DemoModelOptions.Steps must be positive (got {Steps}).");
        Require(CopySteps >= 0 && LookupSteps >= 0, $"DemoModelOptions.CopySteps ({CopySteps}) and LookupSteps ({LookupSteps}) must be zero (no drill) or more.");
        Require(LookupBatch > 0, "DemoModelOptions.LookupBatch must be positive.");
        Require(Dim > 0 && Heads > 0 && Dim % Heads == 0 && (Dim / Heads) % 2 == 0, $"DemoModelOptions.Dim ({Dim}) must split into Heads ({Heads}) heads of an even size.");
        Require(Layers > 0 && HiddenDim > 0, "DemoModelOptions.Layers and HiddenDim must be positive.");
        Require(VocabSize > 260, $"DemoModelOptions.VocabSize must be above 260 (control and byte tokens), got {VocabSize}.");
        Require(SeqLen >= 2 && SeqLen <= ContextLength, $"DemoModelOptions.SeqLen ({SeqLen}) must be between 2 and ContextLength ({ContextLength}).");
        Require(Batch > 0, "DemoModelOptions.Batch must be positive.");
        Require(CanonKernel is >= 0 and <= ModelConfig.MaxCanonKernel, $"DemoModelOptions.CanonKernel must be 0 to {ModelConfig.MaxCanonKernel} (got {CanonKernel}).");
        Require(LearningRate is > 0 and < 1, $"DemoModelOptions.LearningRate must be in (0, 1), got {LearningRate}.");
        Require(!string.IsNullOrWhiteSpace(CacheDir), "DemoModelOptions.CacheDir is required.");
    }

    /// <summary>The pretraining corpus these options describe.</summary>
    public DemoCorpusOptions CorpusOptions => new(CorpusVillages, Sources: Sources, QuestionsPerPassage: QuestionsPerPassage);

    /// <summary>The cache key: generator version, builder version and every setting that changes the weights.</summary>
    public string Key()
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"gen{DemoWorld.GeneratorVersion}|builder{DemoModelBuilder.Version}|copy{CopySteps}|look{LookupSteps}x{LookupBatch}|s{Steps}|d{Dim}|l{Layers}|h{Heads}|f{HiddenDim}|c{ContextLength}|v{VocabSize}|w{CorpusVillages}|b{Batch}|src{Sources}|qpp{QuestionsPerPassage}|canon{CanonKernel}|t{SeqLen}|lr{LearningRate}|seed{Seed}|test{TestWorld}");
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant();
    }
}

/// <summary>
/// What <see cref="DemoModelBuilder.Build"/> produced: the model file, whether it came from the cache (or, with
/// <see cref="Committed"/>, from the model committed with the sources), and the loss curve's ends.
/// </summary>
internal sealed record DemoModel(string Path, bool Reused, int Steps, float FirstLoss, float LastLoss, double Seconds, bool Committed = false);

/// <summary>
/// The demo's own model, pretrained from scratch on our engine: a random F32 llama of a small shape with a vocabulary
/// learned from the reading corpus (<see cref="CorpusVocab"/>), then full training of every weight with the fine-tuning
/// <see cref="Trainer"/> in three stages, each starting from the last one's weights: the copy drill and the lookup drill
/// (<see cref="DemoCurriculum"/>), then the reading corpus of another generated world (<see cref="DemoCorpus"/>). Kept
/// in the cache as demo-&lt;key&gt;.gguf (written under a temporary name and moved into place, so a killed build never
/// leaves a half file) and reused while the key matches.
/// </summary>
internal static class DemoModelBuilder
{
    /// <summary>Bumped when the corpus, vocabulary or training recipe changes, so older cached models are not reused.</summary>
    public const int Version = 8;

    private const int VocabExamples = 2000;

    public static string PathFor(DemoModelOptions options) => System.IO.Path.Combine(options.CacheDir, $"demo-{options.Key()}.gguf");

    /// <summary>
    /// Builds the model, or finds it: in the cache, else (for the default recipe) the committed one, unpacked into the
    /// cache after its sha256 is checked. A committed model whose bytes do not match the recorded sha256 is not used:
    /// the model is built from scratch instead (<paramref name="warn"/> says why). <paramref name="stage"/> is told each
    /// training stage's name and steps as it starts; <paramref name="progress"/> gets every stage's steps.
    /// </summary>
    public static DemoModel Build(DemoModelOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken ct = default, Action<string>? warn = null,
        Action<string, int>? stage = null)
    {
        options.Validate();
        var path = PathFor(options);
        if (File.Exists(path)) return new DemoModel(path, true, 0, float.NaN, float.NaN, 0);
        Directory.CreateDirectory(options.CacheDir);
        if (CommittedDemoModel.TryUnpack(options, path, warn)) return new DemoModel(path, true, 0, float.NaN, float.NaN, 0, Committed: true);
        var work = path + $".build-{Environment.ProcessId}";
        if (Directory.Exists(work)) Directory.Delete(work, true);
        Directory.CreateDirectory(work);
        try
        {
            var sw = Stopwatch.StartNew();
            var examples = DemoCorpus.Build(options.CorpusOptions, options.TestWorld);
            // The vocabulary is learned from the first villages' examples (enough for the prompt's words, at a small share
            // of the cost of the whole corpus); every value word is one piece, so a reader copies it as one token.
            var vocab = CorpusVocab.Learn(examples.Take(VocabExamples).Select(PlainText), options.VocabSize, DemoWorld.ValueWords);
            var config = new ModelConfig("llama", options.Dim, options.HiddenDim, options.Layers, options.Heads, options.Heads, vocab.Tokens.Length,
                options.ContextLength, 10000f, 1e-5f, RopeMode.Normal, CanonKernel: options.CanonKernel);
            var model = System.IO.Path.Combine(work, "base.gguf");
            // The canon layer starts as the identity (zero lag weights), as Allen-Zhu 2025 initialises it.
            RandomModelWriter.Write(new ModelPreset("demo", config, true, "RagTune demo model"), GgmlType.F32, options.Seed, model, vocab: vocab, canonStd: 0f);

            // Three stages, each continuing the last one's weights (DemoCurriculum says why): copying, lookup, reading.
            // Each drill has as many examples as its steps take, so no example is seen twice.
            var losses = new List<float>();
            if (options.CopySteps > 0)
                model = Stage("copy", DemoCurriculum.Copy(options.CopySteps * options.Batch, options.Seed), model, options.CopySteps, options.Batch, 80, null);
            if (options.LookupSteps > 0)
                model = Stage("lookup", DemoCurriculum.Lookup(options.LookupSteps * options.LookupBatch, options.TestWorld), model, options.LookupSteps, options.LookupBatch, 224, null);
            model = Stage("reading", examples, model, options.Steps, options.Batch, options.SeqLen, losses);
            File.Move(model, path, overwrite: true);
            return new DemoModel(path, false, options.TotalSteps, losses[0], losses[^1], sw.Elapsed.TotalSeconds);

            string Stage(string name, List<DemoExample> data, string from, int steps, int batch, int seqLen, List<float>? record)
            {
                stage?.Invoke(name, steps);
                var corpus = System.IO.Path.Combine(work, name + ".jsonl");
                DemoCorpus.Write(corpus, data);
                var tune = new TuneOptions
                {
                    ModelPath = from,
                    DataPath = corpus,
                    Format = DatasetFormat.Chat,
                    OutputDir = System.IO.Path.Combine(work, name),
                    Method = "full",
                    Steps = steps,
                    LearningRate = options.LearningRate,
                    BatchSize = batch,
                    GradAccum = 1,
                    SeqLen = Math.Min(seqLen, options.ContextLength),
                    ValidationSplit = 0,
                    Warmup = 0.05,
                    Seed = options.Seed,
                    Threads = options.Threads,
                    CheckpointEvery = int.MaxValue,
                };
                using var trainer = new Trainer(tune);
                trainer.Prepare();
                var result = trainer.Run(new LossRecorder(record, progress), null, ct);
                return System.IO.Path.Combine(result.AdapterDir, Trainer.FullModelFileName);
            }
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    // The text the model is trained and asked with (the plain prompt format, rendered by training's own renderer),
    // for learning the vocabulary.
    private static string PlainText(DemoExample e)
    {
        List<ChatTurn> turns = e.System == null ? [] : [new(TurnRole.System, e.System)];
        turns.Add(new(TurnRole.User, e.User));
        turns.Add(new(TurnRole.Assistant, e.Assistant));
        return string.Concat(PlainTrainingPromptFormat.Instance.Render(turns).Select(s => s.Text));
    }

    private sealed class LossRecorder(List<float>? losses, IProgress<TrainingProgress>? inner) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            losses?.Add(value.TrainLoss);
            inner?.Report(value);
        }
    }
}
