using System.Text.Json.Serialization;
using RagTune.Evaluation.Statistics;

namespace RagTune.Evaluation.Experiments;

// The computed half of a comparison: every figure the reports show, derived from an ExperimentRun by
// ExperimentAnalyzer. results.json holds this record whole (raw run included), so a reader can recompute any figure.

/// <summary>
/// One answer scored. Answer metrics (<paramref name="ExactMatch"/>, <paramref name="F1"/>, <paramref
/// name="ContainsGold"/>, <paramref name="Primary"/>) are null on unanswerable questions; <paramref
/// name="Groundedness"/> is null when no passages were shown or nothing was said; <paramref
/// name="CitationPrecision"/> is null without citations (<paramref name="Citations"/> counts fabricated ones too;
/// <paramref name="CitesShownPassage"/> says whether at least one cites a passage that was shown); <paramref name="RecallAtK"/> is null for closed-book arms
/// and questions without a gold document.
/// </summary>
public sealed record AnswerScore(
    string QuestionId,
    bool Answerable,
    bool IsParaphrase,
    double? ExactMatch,
    double? F1,
    double? ContainsGold,
    double? Primary,
    bool Correct,
    bool Abstained,
    bool Hallucinated,
    double? Groundedness,
    int Citations,
    bool CitesShownPassage,
    double? CitationPrecision,
    double? RecallAtK,
    double TotalMs);

/// <summary>
/// An arm's metrics, each a mean with its bootstrap interval (null where the arm gives no observation).
/// <paramref name="Abstention"/> is the share of unanswerable questions abstained on (higher is better), <paramref
/// name="FalseAbstention"/> the share of answerable ones abstained on, <paramref name="Hallucination"/> the share of
/// all questions answered confidently and wrongly, <paramref name="CitationRate"/> the share of non-abstained
/// answers citing at least one shown passage.
/// </summary>
public sealed record ArmMetrics(
    Estimate? ExactMatch,
    Estimate? F1,
    Estimate? ContainsGold,
    Estimate? Groundedness,
    Estimate? CitationPrecision,
    Estimate? CitationRate,
    Estimate? RecallAtK,
    Estimate? Abstention,
    Estimate? FalseAbstention,
    Estimate? Hallucination)
{
    /// <summary>The metrics with their report names, in report order.</summary>
    public IEnumerable<(string Name, Estimate? Value)> Named(int recallK)
    {
        yield return ("exact match", ExactMatch);
        yield return ("token F1", F1);
        yield return ("contains gold", ContainsGold);
        yield return ("groundedness", Groundedness);
        yield return ("citation precision", CitationPrecision);
        yield return ("citation rate", CitationRate);
        yield return ($"recall@{recallK}", RecallAtK);
        yield return ("abstention (unanswerable)", Abstention);
        yield return ("false abstention", FalseAbstention);
        yield return ("hallucination", Hallucination);
    }
}

/// <summary>Milliseconds per answer for one stage: mean, median and 95th percentile.</summary>
public sealed record StageLatency(double Mean, double P50, double P95);

/// <summary>Latency per stage and in total (the per-answer sum of the stages).</summary>
public sealed record LatencySummary(StageLatency Retrieval, StageLatency Prompt, StageLatency Generation, StageLatency Total);

/// <summary>
/// Money at <see cref="ExperimentConstraints.ComputePricePerHour"/>: serving (<paramref name="PerThousandQuestions"/>
/// from the mean latency, <paramref name="ServingPerMonth"/> at <see cref="AnalysisOptions.QuestionsPerMonth"/>),
/// bringing the arm up to date once (<paramref name="UpdateSeconds"/>, <paramref name="UpdateCost"/>; retraining for
/// trained arms, re-ingest for retrieval), <paramref name="UpdatesPerMonthCost"/> at the constraints' update rate,
/// the monthly total, and the one-off training cost.
/// </summary>
public sealed record CostSummary(
    double PerThousandQuestions,
    double ServingPerMonth,
    double UpdateSeconds,
    double UpdateCost,
    double UpdatesPerMonthCost,
    double TotalPerMonth,
    double InitialTrainingCost)
{
    /// <summary>The monthly total at another update rate.</summary>
    public double TotalAt(double updatesPerMonth) => ServingPerMonth + updatesPerMonth * UpdateCost;
}

/// <summary>
/// One arm analysed. <paramref name="Primary"/> repeats the primary metric's estimate; <paramref name="VersusBest"/>
/// is the paired test against the best arm on it (null for the best arm itself and for failed arms); <paramref
/// name="Seen"/> and <paramref name="Paraphrased"/> split the primary metric by question wording.
/// </summary>
public sealed record ArmResults(
    string Arm,
    string? Error,
    bool Retrieves,
    bool Trained,
    int Answers,
    IReadOnlyList<AnswerScore> Scores,
    ArmMetrics Metrics,
    Estimate? Primary,
    PairedComparison? VersusBest,
    Estimate? Seen,
    Estimate? Paraphrased,
    LatencySummary? Latency,
    double? PromptTokens,
    double? CompletionTokens,
    CostSummary Cost);

/// <summary>
/// One arm in the freshness experiment: the primary metric on the changed facts before the change (against the old
/// answers) and after it (against the new ones), the share of after-answers still giving the old answer, and what
/// one update of the arm costs in seconds.
/// </summary>
public sealed record FreshnessArm(string Arm, Estimate? Before, Estimate? After, double? StaleRate, double UpdateSeconds);

/// <summary>The freshness experiment analysed.</summary>
public sealed record FreshnessResults(int ChangedFacts, int ChangedQuestions, double ReingestSeconds, IReadOnlyList<FreshnessArm> Arms);

/// <summary>A point of the learning curve: the fine-tuned arm trained on <paramref name="Examples"/> examples.</summary>
public sealed record LearningCurvePoint(double Fraction, bool WithParaphrases, int Examples, Estimate? Accuracy, double TrainingSeconds);

/// <summary>How a learning-curve fit reaches the target.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ReachVerdict>))]
public enum ReachVerdict
{
    /// <summary>A measured point already reaches it.</summary>
    Reached,
    /// <summary>The fit reaches it within the extrapolation limit.</summary>
    Extrapolated,
    /// <summary>The fit is flat or falling, or reaches it only beyond the limit.</summary>
    NotReachable,
    /// <summary>Too few distinct training-set sizes to fit, or no target arm.</summary>
    Unknown,
}

/// <summary>
/// Accuracy ≈ <paramref name="Intercept"/> + <paramref name="Slope"/> · ln(examples), fitted by least squares on one
/// series, and how many examples it takes to reach the target (<paramref name="ExamplesToTarget"/>, null unless
/// reached or extrapolated within <paramref name="Limit"/>).
/// </summary>
public sealed record LearningCurveFit(bool WithParaphrases, double? Intercept, double? Slope, ReachVerdict Verdict, double? ExamplesToTarget, double Limit);

/// <summary>The data-efficiency experiment analysed; the target is the <paramref name="TargetArm"/>'s primary metric.</summary>
public sealed record LearningCurveResults(IReadOnlyList<LearningCurvePoint> Points, string? TargetArm, double? Target, IReadOnlyList<LearningCurveFit> Fits);

/// <summary>Perplexity on held-out general text before and after fine-tuning, and the relative change.</summary>
public sealed record ForgettingResult(string Arm, double PerplexityBefore, double PerplexityAfter, double RelativeChange);

/// <summary>An arm's place in the recommendation: the constraints it violates, and whether it is within noise of the best.</summary>
public sealed record RankedArm(int Rank, string Arm, IReadOnlyList<string> Violations, bool WithinNoiseOfBest, double? Primary, double MonthlyCost);

/// <summary>The recommended arm, a one-line summary, the reasons (each quoting measured figures), and the full ranking.</summary>
public sealed record Recommendation(string? Recommended, string Summary, IReadOnlyList<string> Reasons, IReadOnlyList<RankedArm> Ranking);

/// <summary>Everything the analysis computed from <paramref name="Run"/> under <paramref name="Options"/>.</summary>
public sealed record ExperimentResults(
    ExperimentRun Run,
    AnalysisOptions Options,
    string PrimaryMetricName,
    IReadOnlyList<ArmResults> Arms,
    FreshnessResults? Freshness,
    LearningCurveResults? LearningCurve,
    IReadOnlyList<ForgettingResult> Forgetting,
    Recommendation Recommendation)
{
    /// <summary>The arm's results, or null.</summary>
    public ArmResults? Arm(string name) => Arms.FirstOrDefault(a => a.Arm == name);
}
