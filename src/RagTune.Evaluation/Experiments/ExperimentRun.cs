namespace RagTune.Evaluation.Experiments;

// The raw record of a comparison: what the runner saw and measured, before any scoring. The runner
// (ExperimentRunner) produces it; the analysis (scoring, statistics, recommendation, reports) consumes it. Keeping
// the two apart means every figure in a report can be recomputed from results.json's raw part.

/// <summary>The five arms, by their names in specs, results and reports.</summary>
public static class ArmNames
{
    /// <summary>The base model alone, no retrieval.</summary>
    public const string Base = "base";

    /// <summary>The base model answering from retrieved passages.</summary>
    public const string Rag = "rag";

    /// <summary>The model fine-tuned on the questions' facts, no retrieval.</summary>
    public const string FineTuned = "ft";

    /// <summary>The fine-tuned model answering from retrieved passages.</summary>
    public const string FineTunedRag = "ft+rag";

    /// <summary>The model trained on a RAFT set, answering from retrieved passages.</summary>
    public const string RaftRag = "raft+rag";

    /// <summary>Every arm, in report order.</summary>
    public static IReadOnlyList<string> All { get; } = [Base, Rag, FineTuned, FineTunedRag, RaftRag];

    /// <summary>Arms that retrieve passages (and can cite them).</summary>
    public static bool Retrieves(string arm) => arm is Rag or FineTunedRag or RaftRag;

    /// <summary>Arms whose model carries a trained adapter.</summary>
    public static bool IsTrained(string arm) => arm is FineTuned or FineTunedRag or RaftRag;
}

/// <summary>
/// A question with its reference answers. <paramref name="FactId"/> groups the wordings of one fact: the train/test
/// split is by fact, so a paraphrase of a training question never lands in the test set. An unanswerable question
/// (<paramref name="Answerable"/> false, no answers) measures abstention and hallucination.
/// </summary>
public sealed record ExperimentQuestion(
    string Id,
    string FactId,
    string Text,
    IReadOnlyList<string> Answers,
    bool IsParaphrase = false,
    bool Answerable = true,
    string? GoldDocumentId = null,
    string? GoldPassage = null);

/// <summary>A numbered passage shown to the model (retrieval arms), as cited by <c>[n]</c> in the answer.</summary>
public sealed record ShownPassage(int Number, string DocumentId, long ChunkId, string Text);

/// <summary>
/// One arm's answer to one question, as generated: text, whether it abstained, the documents retrieved in rank order
/// and the passages shown (both empty for closed-book arms), time per stage in milliseconds, and token counts.
/// </summary>
public sealed record RawAnswer(
    string QuestionId,
    string Text,
    bool Abstained,
    IReadOnlyList<string> RetrievedDocumentIds,
    IReadOnlyList<ShownPassage> Passages,
    double RetrievalMs,
    double PromptMs,
    double GenerationMs,
    int PromptTokens,
    int CompletionTokens);

/// <summary>A point of a training loss curve.</summary>
public sealed record LossSample(int Step, float TrainLoss, float? ValLoss);

/// <summary>
/// What training an arm's adapter cost and how it went: examples used (and whether paraphrases were among them),
/// wall time, tokens processed, peak managed + mapped memory, steps, the best step and its validation loss, the
/// overfitting flag, the loss curve, and where the adapter was written.
/// </summary>
public sealed record TrainingRun(
    int Examples,
    bool WithParaphrases,
    double WallSeconds,
    long Tokens,
    long PeakMemoryBytes,
    int Steps,
    int? BestStep,
    float? BestValLoss,
    bool Overfitting,
    IReadOnlyList<LossSample> Loss,
    string AdapterDir);

/// <summary>
/// One arm's answers to the test questions, and its training when it has an adapter. <paramref name="Error"/> is set
/// when the arm failed (its answers may then be partial or empty); the other arms still report.
/// </summary>
public sealed record ArmRun(string Arm, IReadOnlyList<RawAnswer> Answers, TrainingRun? Training, string? Error = null);

/// <summary>
/// The freshness experiment: a share of the facts was changed in the documents and re-ingested. <paramref
/// name="ChangedQuestions"/> are the test questions of the changed facts with their new answers; <paramref
/// name="Before"/> holds each arm's answers to them before the change, <paramref name="After"/> after it (arms are
/// not retrained). <paramref name="UpdateCostSeconds"/> is, per arm, the time it takes to bring that arm up to date:
/// re-ingest for RAG, retraining for the trained arms (measured or estimated from their training run).
/// </summary>
public sealed record FreshnessRun(
    IReadOnlyList<string> ChangedFactIds,
    IReadOnlyList<ExperimentQuestion> ChangedQuestions,
    double ReingestSeconds,
    IReadOnlyList<ArmRun> Before,
    IReadOnlyList<ArmRun> After,
    IReadOnlyDictionary<string, double> UpdateCostSeconds);

/// <summary>The fine-tuned arm trained on a fraction of the training examples, answering the same test questions.</summary>
public sealed record LearningCurveRun(double Fraction, bool WithParaphrases, TrainingRun Training, IReadOnlyList<RawAnswer> Answers);

/// <summary>The data-efficiency experiment: the fine-tuned arm at several training-set sizes.</summary>
public sealed record DataEfficiencyRun(IReadOnlyList<LearningCurveRun> Points);

/// <summary>
/// Forgetting: perplexity of a trained arm's model on held-out general text, before (the base model) and after
/// fine-tuning. Seen-wording versus paraphrase accuracy is computed from the answers themselves.
/// </summary>
public sealed record ForgettingRun(string Arm, double PerplexityBefore, double PerplexityAfter);

/// <summary>
/// The user's constraints, from the spec: a latency budget per answer (null: none), how many times a month the
/// knowledge changes, how many labelled examples they can afford (null: unlimited), whether answers must cite
/// sources, and the price of an hour of the compute the model runs and trains on.
/// </summary>
public sealed record ExperimentConstraints(
    double? LatencyBudgetMs = null,
    double UpdatesPerMonth = 4,
    int? LabelledExamplesAffordable = null,
    bool CitationsRequired = false,
    double ComputePricePerHour = 0.10)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad constraint.</summary>
    public void Validate()
    {
        if (LatencyBudgetMs is <= 0) throw new ArgumentException($"constraints.latency_budget_ms must be positive (got {LatencyBudgetMs}).");
        if (UpdatesPerMonth < 0) throw new ArgumentException($"constraints.updates_per_month must be zero or more (got {UpdatesPerMonth}).");
        if (LabelledExamplesAffordable is < 0) throw new ArgumentException($"constraints.labelled_examples must be zero or more (got {LabelledExamplesAffordable}).");
        if (ComputePricePerHour < 0) throw new ArgumentException($"constraints.compute_price_per_hour must be zero or more (got {ComputePricePerHour}).");
    }
}

/// <summary>
/// Everything a comparison measured. <paramref name="Model"/> names the base model (file and hash, or endpoint and
/// model id); <paramref name="RecallK"/> is the k of the Recall@k reported for retrieval arms.
/// </summary>
public sealed record ExperimentRun(
    string Name,
    string Model,
    DateTimeOffset Started,
    ExperimentConstraints Constraints,
    IReadOnlyList<ExperimentQuestion> TrainQuestions,
    IReadOnlyList<ExperimentQuestion> TestQuestions,
    IReadOnlyList<ArmRun> Arms,
    FreshnessRun? Freshness,
    DataEfficiencyRun? DataEfficiency,
    IReadOnlyList<ForgettingRun> Forgetting,
    int RecallK = 5)
{
    /// <summary>The spec's <c>notes:</c>, printed by the reports (empty when it has none; absent in older files).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The format name a saved run carries (checked on load).</summary>
    public const string FormatName = "ragtune-experiment";

    /// <summary>The format version a saved run carries; a newer one is refused on load.</summary>
    public const int FormatVersion = 1;
}
