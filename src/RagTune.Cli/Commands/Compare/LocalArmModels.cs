using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.AI;
using RagTune.Engine.Models;
using RagTune.Evaluation.Experiments;
using RagTune.FineTuning.Adapters;
using RagTune.FineTuning.Datasets;
using RagTune.FineTuning.Training;
using RagTune.Models.Local;

namespace RagTune.Cli.Commands.Compare;

/// <summary>
/// The experiment's models on RagTune's own engine: the base as a <see cref="LocalChatClient"/>, adapters trained by
/// the fine-tuning <see cref="Trainer"/> and served merged into an F32 copy of the base, and perplexity from the
/// engine's logits. Every arm runs on this one engine and base file, so the arms differ only in method.
/// </summary>
internal sealed class LocalArmModels : IArmModels
{
    private readonly string _modelPath;
    private readonly int _threads;
    private readonly LocalChatClient _base;

    public LocalArmModels(string modelPath, int threads)
    {
        _modelPath = modelPath;
        _threads = threads;
        _base = new LocalChatClient(LocalModel.Load(modelPath), Options());
        Description = $"{Path.GetFileName(modelPath)} (sha256 {Sha256Prefix(modelPath)})";
    }

    public string Description { get; }

    public IChatClient Base => _base;

    public string? CannotTrainReason => null;

    private LocalChatClientOptions Options() => new() { Threads = _threads };

    public TrainingRun Train(ArmTraining request, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var s = request.Settings;
        var options = new TuneOptions
        {
            ModelPath = _modelPath,
            DataPath = request.DataPath,
            Format = DatasetFormat.Chat,
            OutputDir = request.OutputDir,
            ValidationSplit = s.ValidationSplit,
            LoraRank = s.Rank,
            LoraAlpha = s.Alpha,
            Steps = s.Steps,
            Epochs = s.Steps == null ? s.Epochs ?? 1 : null,
            LearningRate = s.LearningRate,
            BatchSize = s.Batch,
            GradAccum = s.GradAccum,
            SeqLen = s.SeqLen,
            Seed = request.Seed,
            Threads = _threads,
            // One checkpoint at the end: mid-run checkpoints cost time and the runner never resumes.
            CheckpointEvery = int.MaxValue,
        };
        var loss = new List<LossSample>();
        var sw = Stopwatch.StartNew();
        using var trainer = new Trainer(options);
        trainer.Prepare();
        var recorder = new Recorder(loss, progress);
        var result = trainer.Run(recorder, null, cancellationToken);
        double wall = sw.Elapsed.TotalSeconds;
        var report = trainer.TrainReport!;
        // Tokens processed: the training set's tokens times the passes over it the steps made.
        double passes = (double)result.Steps * s.Batch * s.GradAccum / Math.Max(1, report.Examples);
        long tokens = (long)Math.Round(report.Tokens * passes);
        return new TrainingRun(request.Examples, request.WithParaphrases, wall, tokens, trainer.Estimate?.MemoryBytes ?? 0, result.Steps,
            result.BestStep, result.BestValLoss, result.Overfitting, loss, result.AdapterDir);
    }

    public IChatClient WithAdapter(string adapterDir) =>
        new LocalChatClient(AdapterOption.Apply(LocalModel.Load(_modelPath), adapterDir), Options());

    public double? Perplexity(string? adapterDir, string text)
    {
        using var model = AdapterOption.Apply(LocalModel.Load(_modelPath), adapterDir);
        return TextPerplexity.Of(model, text, _threads);
    }

    public void Dispose() => _base.Dispose();

    private static string Sha256Prefix(string path)
    {
        if (Directory.Exists(path)) return "folder";
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f))[..12].ToLowerInvariant();
    }

    private sealed class Recorder(List<LossSample> loss, IProgress<TrainingProgress>? inner) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            loss.Add(new LossSample(value.Step, value.TrainLoss, value.ValLoss));
            inner?.Report(value);
        }
    }
}

/// <summary>Perplexity of text under a local model: exp of the mean next-token negative log-likelihood.</summary>
internal static class TextPerplexity
{
    /// <summary>
    /// BOS + the text's tokens, cut to the context length; every position predicts the next token. Computed with the
    /// log-sum-exp of each row of logits, in double precision.
    /// </summary>
    public static double Of(LocalModel model, string text, int threads)
    {
        var tokens = model.Tokenizer.Encode(text, addBos: true).ToArray();
        int n = Math.Min(tokens.Length, model.Engine.Config.ContextLength);
        if (n < 2) throw new ArgumentException("The forgetting text is too short to measure perplexity: give at least a sentence.");
        int v = model.Engine.Config.VocabSize;
        var logits = new float[(long)n * v];
        using var session = new InferenceSession(model.Engine, new SessionOptions(n, Threads: threads)) { Adapter = model.Adapter };
        session.ForwardAll(tokens.AsSpan(0, n), logits);
        double nll = 0;
        for (int t = 0; t < n - 1; t++)
        {
            var row = logits.AsSpan(t * v, v);
            float max = float.NegativeInfinity;
            foreach (var x in row) max = Math.Max(max, x);
            double sum = 0;
            foreach (var x in row) sum += Math.Exp(x - max);
            nll += max + Math.Log(sum) - row[tokens[t + 1]];
        }
        return Math.Exp(nll / (n - 1));
    }
}
