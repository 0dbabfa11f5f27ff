using RagTune.Evaluation.Experiments;

namespace RagTune.Hosting.Compare;

// What the compare service returns: plain records with no server paths in them, so a front end can send them as
// they are. The full figures are in the report files (report.html, report.md, results.json).

/// <summary>
/// A comparison request from a front end: either a whole <see cref="Spec"/> (the YAML of <c>ragtune compare</c>,
/// naming a collection, an uploaded questions file and a served model instead of paths), or the fields below, which
/// fill <see cref="ComparisonTemplate"/>.
/// </summary>
public sealed record ComparisonRequest
{
    /// <summary>A whole spec (YAML); when set, the fields below must not be.</summary>
    public string? Spec { get; init; }

    /// <summary>The collection compared on; its uploaded documents are copied, so freshness can edit them.</summary>
    public string? Collection { get; init; }

    /// <summary>A served model id (one loaded from a file).</summary>
    public string? Model { get; init; }

    /// <summary>An uploaded questions file (JSONL, see docs/compare.md); null generates questions from the documents.</summary>
    public string? Questions { get; init; }

    /// <summary>The comparison's name in reports; null for "&lt;collection&gt;-comparison".</summary>
    public string? Name { get; init; }
    /// <summary>The arms to run (<see cref="ArmNames"/>); null for all.</summary>
    public IReadOnlyList<string>? Arms { get; init; }
    /// <summary>Training steps of the trained arms; null for the template's.</summary>
    public int? Steps { get; init; }
    /// <summary>Most tokens per answer; null for the template's.</summary>
    public int? MaxTokens { get; init; }
    /// <summary>The share of questions held out for testing; null for the template's.</summary>
    public double? TestShare { get; init; }
    /// <summary>Also run the freshness experiment: change some facts, re-ingest, ask again.</summary>
    public bool Freshness { get; init; }
    /// <summary>Also run the data-efficiency experiment: retrain the fine-tuned arm on 10/25/50/100% of the data.</summary>
    public bool DataEfficiency { get; init; }
    /// <summary>Also run the forgetting experiment: perplexity on general text before and after training.</summary>
    public bool Forgetting { get; init; }
    /// <summary>The seed of the split, training and sampling; null for the template's.</summary>
    public ulong? Seed { get; init; }

    /// <summary>True when any field besides <see cref="Spec"/> is set.</summary>
    public bool HasFields =>
        Collection != null || Model != null || Questions != null || Name != null || Arms != null || Steps != null || MaxTokens != null ||
        TestShare != null || Freshness || DataEfficiency || Forgetting || Seed != null;
}

/// <summary>One arm in a comparison's summary: its primary metric with the 95% interval, median latency, monthly cost and rank.</summary>
public sealed record ComparisonArm(string Arm, string? Error, int Answers, double? Primary, double? Low, double? High, double? LatencyP50Ms,
    double MonthlyCost, int? Rank, bool WithinNoiseOfBest);

/// <summary>A finished comparison in brief: the recommendation with its reasons and each arm's headline figures.</summary>
public sealed record ComparisonSummary(string Id, string Name, string Model, DateTimeOffset Started, DateTimeOffset Finished, int TrainQuestions,
    int TestQuestions, string PrimaryMetric, string? Recommended, string Recommendation, IReadOnlyList<string> Reasons, IReadOnlyList<ComparisonArm> Arms)
{
    /// <summary>The summary of comparison <paramref name="id"/> from its analysed <paramref name="results"/>.</summary>
    public static ComparisonSummary From(string id, ExperimentResults results)
    {
        var run = results.Run;
        var ranking = results.Recommendation.Ranking.ToDictionary(r => r.Arm, StringComparer.Ordinal);
        return new ComparisonSummary(id, run.Name, run.Model, run.Started, DateTimeOffset.UtcNow, run.TrainQuestions.Count, run.TestQuestions.Count,
            results.PrimaryMetricName, results.Recommendation.Recommended, results.Recommendation.Summary, results.Recommendation.Reasons,
            [.. results.Arms.Select(a =>
            {
                var rank = ranking.GetValueOrDefault(a.Arm);
                return new ComparisonArm(a.Arm, a.Error, a.Answers, a.Primary?.Mean, a.Primary?.Low, a.Primary?.High, a.Latency?.Total.P50,
                    a.Cost.TotalPerMonth, rank?.Rank, rank?.WithinNoiseOfBest ?? false);
            })]);
    }
}

/// <summary>
/// A comparison as listed: a running or queued job, or one kept on disk. <paramref name="State"/> is the job's
/// state while the job is known; a folder from an earlier run of the server is "succeeded" when its reports exist,
/// else "incomplete" (it failed, was cancelled or was interrupted).
/// </summary>
public sealed record ComparisonListing(string Id, string Name, string State, DateTimeOffset Created, string? Recommended, string? Recommendation, string? Error);

/// <summary>A comparison's whole state: the listing, the job's progress while it is known, and the summary once finished.</summary>
public sealed record ComparisonStatus(ComparisonListing Comparison, Jobs.JobSnapshot? Job, ComparisonSummary? Summary, IReadOnlyList<string> Files);
