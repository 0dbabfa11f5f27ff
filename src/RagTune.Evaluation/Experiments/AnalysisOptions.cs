using System.Text.Json.Serialization;

namespace RagTune.Evaluation.Experiments;

/// <summary>The metric that ranks arms, decides "correct" for curves and freshness, and is tested for significance.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PrimaryMetric>))]
public enum PrimaryMetric
{
    /// <summary>SQuAD token F1 (default): partial credit for partly right answers.</summary>
    F1,
    /// <summary>SQuAD exact match after normalisation.</summary>
    ExactMatch,
    /// <summary>The normalised answer contains a normalised reference answer as whole words.</summary>
    ContainsGold,
}

/// <summary>How an <see cref="ExperimentRun"/> is scored. Defaults documented per property.</summary>
public sealed record AnalysisOptions
{
    /// <summary>Seed of every bootstrap and permutation resample. Default 20240601.</summary>
    public ulong Seed { get; init; } = 20240601;

    /// <summary>Resamples per confidence interval and per paired test. Default 2000.</summary>
    public int Resamples { get; init; } = 2000;

    /// <summary>Confidence level of the intervals. Default 0.95.</summary>
    public double Confidence { get; init; } = 0.95;

    /// <summary>A difference with a paired p-value below this is called significant. Default 0.05.</summary>
    public double Alpha { get; init; } = 0.05;

    /// <summary>The metric arms are ranked by. Default <see cref="PrimaryMetric.F1"/>.</summary>
    public PrimaryMetric Primary { get; init; } = PrimaryMetric.F1;

    /// <summary>
    /// An answer that is not exact and does not contain the gold answer still counts as correct (not a
    /// hallucination) at this token F1 or above. Default 0.5.
    /// </summary>
    public double CorrectF1 { get; init; } = 0.5;

    /// <summary>A cited sentence is supported by its passage at this <c>CitationVerifier</c> support or above. Default 0.5 (the answerer's own threshold).</summary>
    public double SupportThreshold { get; init; } = 0.5;

    /// <summary>
    /// When citations are required, an arm must cite a shown passage in at least this share of the answers it does
    /// not abstain on. Default 0.5.
    /// </summary>
    public double MinCitationRate { get; init; } = 0.5;

    /// <summary>Questions served per month, for the serving part of the monthly cost of ownership. Default 10,000.</summary>
    public double QuestionsPerMonth { get; init; } = 10_000;

    /// <summary>
    /// Among arms whose quality is within noise of the best, monthly costs within this fraction of the cheapest count
    /// as equal, and the higher-scoring arm of them is recommended: costs come from latency measured in one run, and a
    /// few percent between two of them is timing noise, not a reason. Default 0.25.
    /// </summary>
    public double CostTolerance { get; init; } = 0.25;

    /// <summary>
    /// The learning-curve fit is extrapolated at most to this many times the largest training set measured;
    /// beyond it the target is reported as not reachable. Default 100.
    /// </summary>
    public double ExtrapolationFactor { get; init; } = 100;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (Resamples is < 100 or > 1_000_000) throw new ArgumentException($"AnalysisOptions.Resamples must be in [100, 1000000] (got {Resamples}).");
        if (Confidence is <= 0.5 or >= 1) throw new ArgumentException($"AnalysisOptions.Confidence must be in (0.5, 1) (got {Confidence}).");
        if (Alpha is <= 0 or >= 1) throw new ArgumentException($"AnalysisOptions.Alpha must be in (0, 1) (got {Alpha}).");
        if (!Enum.IsDefined(Primary)) throw new ArgumentException($"AnalysisOptions.Primary is not a known metric (got {(int)Primary}).");
        if (CorrectF1 is <= 0 or > 1) throw new ArgumentException($"AnalysisOptions.CorrectF1 must be in (0, 1] (got {CorrectF1}).");
        if (SupportThreshold is < 0 or > 1) throw new ArgumentException($"AnalysisOptions.SupportThreshold must be in [0, 1] (got {SupportThreshold}).");
        if (MinCitationRate is < 0 or > 1) throw new ArgumentException($"AnalysisOptions.MinCitationRate must be in [0, 1] (got {MinCitationRate}).");
        if (QuestionsPerMonth < 0 || !double.IsFinite(QuestionsPerMonth)) throw new ArgumentException($"AnalysisOptions.QuestionsPerMonth must be a finite number, zero or more (got {QuestionsPerMonth}).");
        if (CostTolerance is < 0 or > 10 || double.IsNaN(CostTolerance)) throw new ArgumentException($"AnalysisOptions.CostTolerance must be in [0, 10] (got {CostTolerance}).");
        if (ExtrapolationFactor is < 1 or > 1e6) throw new ArgumentException($"AnalysisOptions.ExtrapolationFactor must be in [1, 1000000] (got {ExtrapolationFactor}).");
    }
}
