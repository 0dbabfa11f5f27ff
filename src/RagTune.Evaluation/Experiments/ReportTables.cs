using static RagTune.Evaluation.Experiments.ReportFormat;

namespace RagTune.Evaluation.Experiments;

/// <summary>A table as both report formats print it: caption, header cells and body rows of plain (unescaped) text.</summary>
internal sealed record ReportTable(string Caption, IReadOnlyList<string> Headers, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>The report's tables, built once from the results so Markdown and HTML always show the same figures.</summary>
internal static class ReportTables
{
    public static ReportTable Ranking(ExperimentResults r) => new(
        $"Ranking for the stated constraints ({r.PrimaryMetricName}; monthly cost at {Count(r.Options.QuestionsPerMonth)} questions and {Plain(r.Run.Constraints.UpdatesPerMonth)} updates)",
        ["rank", "arm", r.PrimaryMetricName, "within noise of best", "cost / month", "constraints broken"],
        r.Recommendation.Ranking.Select(a => Row(a.Rank.ToString(System.Globalization.CultureInfo.InvariantCulture), a.Arm, Num(a.Primary),
            a.WithinNoiseOfBest ? "yes" : "no", a.Primary is null ? "n/a" : Money(a.MonthlyCost), a.Violations.Count == 0 ? "none" : string.Join("; ", a.Violations))).ToList());

    public static ReportTable Metrics(ExperimentResults r)
    {
        var names = new ArmMetrics(null, null, null, null, null, null, null, null, null, null).Named(r.Run.RecallK).Select(n => n.Name);
        return new ReportTable(
            $"Metrics per arm: mean [{Plain(r.Options.Confidence * 100)}% bootstrap interval, {Count(r.Options.Resamples)} resamples]; last column: paired permutation test against the best arm on {r.PrimaryMetricName}",
            ["arm", .. names, $"Δ{r.PrimaryMetricName} vs best"],
            r.Arms.Select(a => (IReadOnlyList<string>)[a.Arm, .. a.Metrics.Named(r.Run.RecallK).Select(n => Est(n.Value)), VersusBest(a, r.Options.Alpha)]).ToList());
    }

    private static string VersusBest(ArmResults a, double alpha) =>
        a.Error is not null ? "failed" : a.VersusBest is not { } v ? (a.Primary is null ? "n/a" : "best")
        : $"{Signed(v.Difference)} ({P(v.PValue)}, {(v.PValue < alpha ? "significant" : "within noise")})";

    private static string Signed(double v) => (v >= 0 ? "+" : "") + Num(v);

    public static ReportTable Wording(ExperimentResults r) => new(
        $"{r.PrimaryMetricName} on questions worded as in training versus paraphrased",
        ["arm", "seen wording", "paraphrased", "gap"],
        r.Arms.Select(a => Row(a.Arm, Est(a.Seen), Est(a.Paraphrased), a.Seen is { } s && a.Paraphrased is { } p ? Signed(s.Mean - p.Mean) : "n/a")).ToList());

    public static ReportTable Latency(ExperimentResults r) => new(
        "Latency per answer, p50 / p95, by stage; tokens per question (mean)",
        ["arm", "retrieval", "prompt processing", "generation", "total", "prompt tokens", "completion tokens"],
        r.Arms.Select(a => a.Latency is not { } l ? Row(a.Arm, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a") : Row(a.Arm,
            Pair(l.Retrieval), Pair(l.Prompt), Pair(l.Generation), Pair(l.Total), Plain(Math.Round(a.PromptTokens ?? 0, 1)), Plain(Math.Round(a.CompletionTokens ?? 0, 1)))).ToList());

    private static string Pair(StageLatency s) => $"{Ms(s.P50)} / {Ms(s.P95)}";

    public static ReportTable Training(ExperimentResults r)
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (var arm in r.Run.Arms)
        {
            if (arm.Training is not { } t) continue;
            rows.Add(Row(arm.Arm, Count(t.Examples), t.WithParaphrases ? "yes" : "no", Duration(t.WallSeconds), Count(t.Tokens), MiB(t.PeakMemoryBytes),
                Count(t.Steps), t.BestStep is { } b ? Count(b) : "n/a", t.BestValLoss is { } v ? v.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) : "n/a",
                t.Overfitting ? "yes" : "no"));
        }
        return new ReportTable("Training of the arms that carry an adapter",
            ["arm", "examples", "paraphrases", "wall time", "tokens", "peak memory", "steps", "best step", "best val loss", "overfitting"], rows);
    }

    public static ReportTable Cost(ExperimentResults r) => new(
        $"Cost at {Money(r.Run.Constraints.ComputePricePerHour)} per compute hour: serving from mean latency, updates at {Plain(r.Run.Constraints.UpdatesPerMonth)} a month",
        ["arm", "per 1,000 questions", "serving / month", "one update", "updates / month", "total / month", "initial training"],
        r.Arms.Select(a => a.Error is not null ? Row(a.Arm, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a") : Row(a.Arm, Money(a.Cost.PerThousandQuestions), Money(a.Cost.ServingPerMonth),
            $"{Duration(a.Cost.UpdateSeconds)} ({Money(a.Cost.UpdateCost)})", Money(a.Cost.UpdatesPerMonthCost), Money(a.Cost.TotalPerMonth), Money(a.Cost.InitialTrainingCost))).ToList());

    public static ReportTable? Freshness(ExperimentResults r) => r.Freshness is not { } f ? null : new(
        $"Freshness: {f.ChangedFacts} facts ({f.ChangedQuestions} questions) changed and re-ingested in {Duration(f.ReingestSeconds)}; {r.PrimaryMetricName} on them before (old answers) and after (new answers), nothing retrained",
        ["arm", "before", "after", "still gives the old answer", "time to update"],
        f.Arms.Select(a => Row(a.Arm, Est(a.Before), Est(a.After), Pct(a.StaleRate), Duration(a.UpdateSeconds))).ToList());

    public static ReportTable? LearningCurve(ExperimentResults r) => r.LearningCurve is not { } lc ? null : new(
        $"Data efficiency: the fine-tuned arm's {r.PrimaryMetricName} per training-set size",
        ["fraction", "paraphrases", "examples", r.PrimaryMetricName, "training time"],
        lc.Points.Select(p => Row(Pct(p.Fraction), p.WithParaphrases ? "yes" : "no", Count(p.Examples), Est(p.Accuracy), Duration(p.TrainingSeconds))).ToList());

    public static ReportTable? Forgetting(ExperimentResults r) => r.Forgetting.Count == 0 ? null : new(
        "Forgetting: perplexity on held-out general text before and after fine-tuning",
        ["arm", "before", "after", "change"],
        r.Forgetting.Select(f => Row(f.Arm, Num(f.PerplexityBefore), Num(f.PerplexityAfter), (f.RelativeChange >= 0 ? "+" : "") + Pct(f.RelativeChange))).ToList());

    public static ReportTable? Failures(ExperimentResults r)
    {
        var failed = r.Arms.Where(a => a.Error is not null).ToList();
        return failed.Count == 0 ? null : new("Arms that failed (the others still report)", ["arm", "error"], failed.Select(a => Row(a.Arm, a.Error!)).ToList());
    }

    /// <summary>Every table in report order, absent experiments left out.</summary>
    public static IEnumerable<(string Heading, ReportTable Table)> All(ExperimentResults r)
    {
        yield return ("Ranking", Ranking(r));
        if (Failures(r) is { } fail) yield return ("Failed arms", fail);
        yield return ("Metrics", Metrics(r));
        yield return ("Seen wording versus paraphrases", Wording(r));
        yield return ("Latency", Latency(r));
        var training = Training(r);
        if (training.Rows.Count > 0) yield return ("Training", training);
        yield return ("Cost", Cost(r));
        if (Freshness(r) is { } f) yield return ("Freshness", f);
        if (LearningCurve(r) is { } lc) yield return ("Data efficiency", lc);
        if (Forgetting(r) is { } fg) yield return ("Forgetting", fg);
    }

    /// <summary>The learning-curve fits as sentences.</summary>
    public static IEnumerable<string> FitLines(ExperimentResults r)
    {
        if (r.LearningCurve is not { } lc) yield break;
        foreach (var fit in lc.Fits)
        {
            string series = fit.WithParaphrases ? "with paraphrases" : "without paraphrases";
            string curve = fit.Slope is { } b && fit.Intercept is { } a ? $"{r.PrimaryMetricName} ≈ {Num(a)} + {Num(b)}·ln(examples)" : "too few sizes to fit";
            string reach = lc.Target is not { } t ? "no retrieval arm to compare with" : fit.Verdict switch
            {
                ReachVerdict.Reached => $"reaches {lc.TargetArm}'s {Num(t)} at {Count(fit.ExamplesToTarget!.Value)} examples (measured)",
                ReachVerdict.Extrapolated => $"would reach {lc.TargetArm}'s {Num(t)} at about {Count(fit.ExamplesToTarget!.Value)} examples (extrapolated)",
                ReachVerdict.NotReachable => $"not reachable within {Count(fit.Limit)} examples ({lc.TargetArm}: {Num(t)})",
                _ => "cannot say how many examples would reach " + lc.TargetArm,
            };
            yield return $"{series}: {curve}; {reach}.";
        }
    }

    private static IReadOnlyList<string> Row(params string[] cells) => cells;
}
