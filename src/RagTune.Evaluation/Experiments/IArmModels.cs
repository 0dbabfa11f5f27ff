using Microsoft.Extensions.AI;
using RagTune.FineTuning.Training;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// What training an arm asks for: a chat-format JSONL training file, where to write the adapter, the LoRA settings,
/// and for the record how many examples it holds and whether paraphrases are among them.
/// </summary>
public sealed record ArmTraining(string Name, string DataPath, string OutputDir, FineTuningSpec Settings, ulong Seed, int Examples, bool WithParaphrases);

/// <summary>
/// The models of an experiment, as the runner sees them: the base model as an <see cref="IChatClient"/>, training an
/// adapter on it, the base with an adapter as another <see cref="IChatClient"/>, and perplexity on text. The runner
/// knows models only through this seam (the evaluation layer never touches the engine); the CLI composes it from the
/// engine's <c>LocalChatClient</c> and the fine-tuning trainer, or from a remote endpoint that cannot train.
/// </summary>
public interface IArmModels : IDisposable
{
    /// <summary>The base model named for the record: file and sha256 prefix, or endpoint and model id.</summary>
    string Description { get; }

    /// <summary>The base model. Owned by this object.</summary>
    IChatClient Base { get; }

    /// <summary>Null when adapters can be trained; otherwise why not (shown in the trained arms' rows).</summary>
    string? CannotTrainReason { get; }

    /// <summary>Trains a LoRA adapter on the base model; returns what it cost and where the adapter is.</summary>
    TrainingRun Train(ArmTraining request, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken);

    /// <summary>The base model with the adapter in <paramref name="adapterDir"/> applied. The caller disposes it.</summary>
    IChatClient WithAdapter(string adapterDir);

    /// <summary>Perplexity of <paramref name="text"/> under the base model, or under it with an adapter; null when not measurable (remote models).</summary>
    double? Perplexity(string? adapterDir, string text);
}

/// <summary>Where the runner gets its collections: a fresh work collection, or a user's existing one.</summary>
public interface IExperimentStores
{
    /// <summary>Creates (replacing any previous one) the work collection <paramref name="name"/>.</summary>
    RagTune.Rag.Store.IChunkStore CreateFresh(string name);

    /// <summary>Opens an existing collection; throws when it does not exist.</summary>
    RagTune.Rag.Store.IChunkStore OpenExisting(string name);
}

/// <summary>
/// A progress report of a comparison: the stage (e.g. "ingest", "answer rag", "train ft"), items done of total, and a
/// short detail (the current question, a training loss), and while an arm trains its training and validation loss.
/// </summary>
public sealed record ExperimentProgress(string Stage, int Done, int Total, string? Detail = null, double? Loss = null, double? ValLoss = null);
