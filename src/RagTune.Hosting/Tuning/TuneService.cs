using System.Text.Json;
using RagTune.Engine;
using RagTune.FineTuning.Datasets;
using RagTune.FineTuning.Training;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Jobs;

namespace RagTune.Hosting.Tuning;

/// <summary>
/// A fine-tuning request from a front end. The training data is an uploaded data set (<see cref="Dataset"/>) or
/// given inline (<see cref="Examples"/>: Alpaca, chat or QA records, one JSON object each). Unset numbers take
/// <see cref="TuneOptions"/>' defaults.
/// </summary>
public sealed record TuneRequest
{
    /// <summary>Base model file (resolved by the front end from a served model id).</summary>
    public required string ModelPath { get; init; }

    /// <summary>Name the front end knows the base model by (for the job title).</summary>
    public required string ModelName { get; init; }

    /// <summary>An uploaded training set's name (under <c>&lt;data&gt;/datasets</c>); or give <see cref="Examples"/>.</summary>
    public string? Dataset { get; init; }

    /// <summary>Training examples given inline, one JSON object each; or name a <see cref="Dataset"/>.</summary>
    public IReadOnlyList<JsonElement>? Examples { get; init; }

    /// <see cref="TuneOptions.Steps"/>; null for the default.
    public int? Steps { get; init; }
    /// <see cref="TuneOptions.Epochs"/>; null for the default.
    public int? Epochs { get; init; }
    /// <see cref="TuneOptions.LearningRate"/>; null for the default.
    public float? LearningRate { get; init; }
    /// <see cref="TuneOptions.LoraRank"/>; null for the default.
    public int? LoraRank { get; init; }
    /// <see cref="TuneOptions.BatchSize"/>; null for the default.
    public int? BatchSize { get; init; }
    /// <see cref="TuneOptions.GradAccum"/>; null for the default.
    public int? GradAccum { get; init; }
    /// <see cref="TuneOptions.SeqLen"/>; null for the default.
    public int? SeqLen { get; init; }
    /// <see cref="TuneOptions.EvalEvery"/>; null for the default.
    public int? EvalEvery { get; init; }
    /// <see cref="TuneOptions.ValidationSplit"/>; null for the default.
    public double? ValidationSplit { get; init; }
    /// <see cref="TuneOptions.Seed"/>; null for the default.
    public ulong? Seed { get; init; }
}

/// <summary>What a finished fine-tuning job produced for the served base <paramref name="Model"/>. Paths are relative to the data directory.</summary>
internal sealed record TuneResult(string Model, int Steps, int? BestStep, double? BestValLoss, double FinalTrainLoss, bool StoppedEarly, bool Overfitting, string AdapterDir);

/// <summary>
/// Fine-tuning as a job: the same <see cref="Trainer"/> as <c>ragtune tune</c>, writing to
/// <c>&lt;data&gt;/tunes/&lt;job id&gt;</c>, reporting each step's losses to the job's curve.
/// </summary>
public sealed class TuneService(RagTuneOptions options, JobQueue jobs)
{
    /// <summary>The <see cref="Job.Kind"/> of a fine-tuning job.</summary>
    public const string Kind = "tune";

    /// <summary>Stores an uploaded training set under <c>&lt;data&gt;/datasets</c>.</summary>
    public Task<StoredUpload> SaveDatasetAsync(string? fileName, Stream content, CancellationToken ct)
    {
        var safe = UploadStore.SanitizeFileName(fileName);
        if (safe != null && Path.GetExtension(safe).ToLowerInvariant() is not (".json" or ".jsonl" or ".txt"))
            throw HostingException.Invalid($"'{fileName}' is not a training file; upload .jsonl (Alpaca, chat or QA records), .json or .txt.", "file");
        return UploadStore.SaveAsync(options.DatasetsDirectory, fileName, content, options.MaxUploadBytes, ct);
    }

    /// <summary>The uploaded training sets, by name.</summary>
    public IReadOnlyList<StoredUpload> ListDatasets() =>
        Directory.Exists(options.DatasetsDirectory)
            ? [.. new DirectoryInfo(options.DatasetsDirectory).EnumerateFiles().Where(f => !f.Name.StartsWith('.')).OrderBy(f => f.Name, StringComparer.Ordinal)
                .Select(f => new StoredUpload(f.Name, f.Length))]
            : [];

    /// <summary>Checks the request and queues the job; bad settings are refused here, before anything is queued.</summary>
    public Job Start(TuneRequest request)
    {
        var id = JobQueue.NewId(Kind);
        var outDir = Path.Combine(options.TunesDirectory, id);
        var dataPath = DataPath(request, outDir);
        var tune = new TuneOptions
        {
            ModelPath = request.ModelPath,
            DataPath = dataPath,
            OutputDir = outDir,
            Steps = request.Steps,
            Epochs = request.Epochs,
            LearningRate = request.LearningRate ?? TuneOptions.DefaultLearningRate,
            LoraRank = request.LoraRank ?? TuneOptions.DefaultLoraRank,
            BatchSize = request.BatchSize ?? TuneOptions.DefaultBatchSize,
            GradAccum = request.GradAccum ?? TuneOptions.DefaultGradAccum,
            SeqLen = request.SeqLen ?? TuneOptions.DefaultSeqLen,
            EvalEvery = request.EvalEvery ?? TuneOptions.DefaultEvalEvery,
            ValidationSplit = request.ValidationSplit,
            Seed = request.Seed ?? TuneOptions.DefaultSeed,
            Threads = options.TrainingThreads,
        };
        try
        {
            tune.Validate();
        }
        catch (SettingException e)
        {
            throw HostingException.Invalid(Word(e), FieldOf(e.Setting));
        }
        return jobs.Enqueue(Kind, $"Fine-tune {request.ModelName}", null, (job, ct) => Task.FromResult<object?>(Train(job, request.ModelName, tune, ct)), id);
    }

    // The TuneOptions settings a request sets, by their TuneRequest property (the same name, camel-cased in JSON).
    private static readonly HashSet<string> s_requestSettings =
    [
        nameof(TuneRequest.Steps), nameof(TuneRequest.Epochs), nameof(TuneRequest.LearningRate), nameof(TuneRequest.LoraRank),
        nameof(TuneRequest.BatchSize), nameof(TuneRequest.GradAccum), nameof(TuneRequest.SeqLen), nameof(TuneRequest.EvalEvery),
        nameof(TuneRequest.ValidationSplit), nameof(TuneRequest.Seed),
    ];

    /// <summary>The request's (JSON) name for a <see cref="TuneOptions"/> setting, or null for one a request does not set.</summary>
    internal static string? FieldOf(string setting) => setting switch
    {
        _ when s_requestSettings.Contains(setting) => JsonNamingPolicy.CamelCase.ConvertName(setting),
        nameof(TuneOptions.DataPath) => "dataset",
        nameof(TuneOptions.ModelPath) => "model",
        // Set from the server's configuration, not by the request.
        nameof(TuneOptions.Threads) => $"RagTune:{nameof(RagTuneOptions.TrainingThreads)}",
        _ => null,
    };

    /// <summary>The message of <paramref name="e"/> with each setting named as a request (or the server's configuration) names it.</summary>
    internal static string Word(SettingException e) => e.Render(FieldOf);

    /// <summary>
    /// The base model and absolute adapter folder of a succeeded fine-tuning job, to serve it; a job that has not
    /// succeeded is a conflict.
    /// </summary>
    public (string Model, string AdapterFolder) Adapter(Job job)
    {
        if (job.Kind != Kind) throw HostingException.NotFound($"Job '{job.Id}' is not a fine-tuning job.", "id");
        var snapshot = job.Snapshot();
        // A job restored from the journal after a restart carries its result as the JSON it was recorded as.
        var result = snapshot.Result switch
        {
            TuneResult r => r,
            JsonElement e when snapshot.State == JobState.Succeeded && e.ValueKind == JsonValueKind.Object =>
                e.Deserialize<TuneResult>(JsonSerializerOptions.Web),
            _ => null,
        };
        if (result is null || string.IsNullOrEmpty(result.AdapterDir))
            throw HostingException.Conflict($"Fine-tuning job '{job.Id}' is {snapshot.State.ToString().ToLowerInvariant()}; only a succeeded job's adapter can be served.", "id");
        return (result.Model, Path.GetFullPath(result.AdapterDir, options.ResolvedDataDirectory));
    }

    private TuneResult Train(Job job, string model, TuneOptions tune, CancellationToken ct)
    {
        job.Report("prepare", 0, 0, message: "loading the model and the data set");
        using var trainer = new Trainer(tune);
        try
        {
            trainer.Prepare();
        }
        catch (SettingException e)
        {
            // Settings that only fail once the model is loaded (too little memory for them); the job shows the message.
            throw HostingException.Invalid(Word(e), FieldOf(e.Setting));
        }
        var total = trainer.Estimate?.TotalSteps ?? 0;
        job.Report("train", 0, total, message: trainer.TrainReport?.ToString());
        var result = trainer.Run(new StepProgress(job), null, ct);
        return new TuneResult(model, result.Steps, result.BestStep, result.BestValLoss, result.FinalTrainLoss, result.StoppedEarly, result.Overfitting,
            Path.GetRelativePath(options.ResolvedDataDirectory, result.AdapterDir).Replace('\\', '/'));
    }

    private string DataPath(TuneRequest request, string outDir)
    {
        bool inline = request.Examples is { Count: > 0 };
        if (inline == (request.Dataset != null))
            throw HostingException.Invalid("Give the training data either as 'dataset' (an uploaded file's name) or as 'examples' (a non-empty array), not both or neither.", "dataset");
        if (!inline)
        {
            var name = UploadStore.SanitizeFileName(request.Dataset);
            var path = name == null ? null : Path.Combine(options.DatasetsDirectory, name);
            if (name != request.Dataset || path == null || !File.Exists(path))
                throw HostingException.NotFound($"There is no uploaded data set '{request.Dataset}'; upload it first (POST /api/datasets) and pass the name it returns.", "dataset");
            return path;
        }
        for (int i = 0; i < request.Examples!.Count; i++)
            if (request.Examples[i].ValueKind != JsonValueKind.Object)
                throw HostingException.Invalid($"examples[{i}] is not a JSON object; send records such as {{\"instruction\": \"…\", \"output\": \"…\"}}.", $"examples[{i}]");
        Directory.CreateDirectory(outDir);
        var file = Path.Combine(outDir, "data.jsonl");
        File.WriteAllLines(file, request.Examples.Select(e => e.GetRawText().ReplaceLineEndings(" ")));
        return file;
    }

    /// <summary>Each optimizer step becomes a curve point and the job's counts; runs on the training thread.</summary>
    private sealed class StepProgress(Job job) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            job.AddPoint(new LossSample(p.Step, p.Epoch, p.TrainLoss, p.ValLoss, p.LearningRate));
            job.Report("train", p.Step, p.TotalSteps, p.Eta);
        }
    }
}
