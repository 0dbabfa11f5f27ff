using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.AI;
using RagTune.Evaluation.Experiments;
using RagTune.FineTuning.Adapters;
using RagTune.FineTuning.Datasets;
using RagTune.FineTuning.Training;
using RagTune.Hosting.Middleware;
using RagTune.Hosting.Models;
using RagTune.Models.Local;

namespace RagTune.Hosting.Compare;

/// <summary>
/// The experiment's models on RagTune's own engine: the base as a local chat client (<see cref="ChatModels"/>), adapters trained by
/// the fine-tuning <see cref="Trainer"/> and served on the base unmerged, and perplexity from the engine's logits.
/// Every arm runs on this one engine and base file, so the arms differ only in method.
/// </summary>
internal sealed class LocalArmModels : IArmModels
{
    private readonly string _modelPath;
    private readonly int _threads;
    private readonly ClientMiddlewareOptions _clients;
    private readonly string _sha256;
    private readonly IChatClient _base;

    /// <summary>The base at <paramref name="modelPath"/>; every client is composed with <paramref name="clients"/>, keyed by the model's hash.</summary>
    public LocalArmModels(string modelPath, int threads, ClientMiddlewareOptions? clients = null)
    {
        _modelPath = modelPath;
        _threads = threads;
        _clients = clients ?? new ClientMiddlewareOptions();
        _sha256 = Sha256(modelPath);
        _base = ClientMiddleware.Chat(ChatModels.Create(Settings(null)), _clients with { CacheKey = ["model", _sha256] });
        Description = $"{Path.GetFileName(modelPath)} (sha256 {_sha256[..12]})";
    }

    public string Description { get; }

    public IChatClient Base => _base;

    public string? CannotTrainReason => null;

    // The arms' chat models come from the one model-from-settings factory, like every other front end's.
    private ChatModelSettings Settings(string? adapterDir) => new() { Model = _modelPath, Adapter = adapterDir, Threads = _threads };

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

    // The adapter's weights are part of the cache key: a retrained adapter never replays the old one's answers.
    public IChatClient WithAdapter(string adapterDir) =>
        ClientMiddleware.Chat(ChatModels.Create(Settings(adapterDir)),
            _clients with { CacheKey = ["model", _sha256, "adapter", Sha256(Path.Combine(adapterDir, PeftAdapter.WeightsFileName))] });

    public double? Perplexity(string? adapterDir, string text)
    {
        using var model = LocalModel.Load(_modelPath).WithPeftAdapter(adapterDir);
        return TextPerplexity.Of(model, text, _threads);
    }

    public void Dispose() => _base.Dispose();

    /// <summary>The file's SHA-256 (hex); a folder (a Hugging Face model) hashes its file names and sizes.</summary>
    internal static string Sha256(string path)
    {
        if (Directory.Exists(path))
            return Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n",
                Directory.GetFiles(path).Order(StringComparer.Ordinal).Select(f => Path.GetFileName(f) + ":" + new FileInfo(f).Length))))).ToLowerInvariant();
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f)).ToLowerInvariant();
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
