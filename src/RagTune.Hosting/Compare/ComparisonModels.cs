using RagTune.Evaluation.Experiments;

namespace RagTune.Hosting.Compare;

// What the compare service returns: plain records with no server paths in them, so a front end can send them as
// they are. The full figures are in the report files (report.html, report.md, results.json).

/// <summary>
/// A comparison request from a front end: either a whole <see cref="Spec"/> (the YAML of <c>ragtune compare</c>,
/// naming a collection, an uploaded questions file and a served model instead of paths), or the fields below, which
/// fill <see cref="ComparisonTemplate"/>.
/// </summary>
internal sealed record ComparisonRequest
{
    public string? Spec { get; init; }

    /// <summary>The collection compared on; its uploaded documents are copied, so freshness can edit them.</summary>
    public string? Collection { get; init; }

    /// <summary>A served model id (one loaded from a file).</summary>
    public string? Model { get; init; }

    /// <summary>An uploaded questions file (JSONL, see docs/compare.md); null generates questions from the documents.</summary>
    public string? Questions { get; init; }

    public string? Name { get; init; }
    public IReadOnlyList<string>? Arms { get; init; }
    public int? Steps { get; init; }
    public int? MaxTokens { get; init; }
    public double? TestShare { get; init; }
    public bool Freshness { get; init; }
    public bool DataEfficiency { get; init; }
    public bool Forgetting { get; init; }
    public ulong? Seed { get; init; }

    /// <summary>True when any field besides <see cref="Spec"/> is set.</summary>
    public bool HasFields =>
        Collection != null || Model != null || Questions != null || Name != null || Arms != null || Steps != null || MaxTokens != null ||
        TestShare != null || Freshness || DataEfficiency || Forgetting || Seed != null;
}

/// <summary>One arm in a comparison's summary: its primary metric with the 95% interval, median latency, monthly cost and rank.</summary>
internal sealed record ComparisonArm(string Arm, string? Error, int Answers, double? Primary, double? Low, double? High, double? LatencyP50Ms,
    double MonthlyCost, int? Rank, bool WithinNoiseOfBest);

/// <summary>A finished comparison in brief: the recommendation with its reasons and each arm's headline figures.</summary>
internal sealed record ComparisonSummary(string Id, string Name, string Model, DateTimeOffset Started, DateTimeOffset Finished, int TrainQuestions,
    int TestQuestions, string PrimaryMetric, string? Recommended, string Recommendation, IReadOnlyList<string> Reasons, IReadOnlyList<ComparisonArm> Arms)
{
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
internal sealed record ComparisonListing(string Id, string Name, string State, DateTimeOffset Created, string? Recommended, string? Recommendation, string? Error);

/// <summary>A comparison's whole state: the listing, the job's progress while it is known, and the summary once finished.</summary>
internal sealed record ComparisonStatus(ComparisonListing Comparison, Jobs.JobSnapshot? Job, ComparisonSummary? Summary, IReadOnlyList<string> Files);
