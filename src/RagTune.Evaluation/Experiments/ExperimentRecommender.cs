using RagTune.Evaluation.Statistics;
using static RagTune.Evaluation.Experiments.ReportFormat;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// Ranks the arms for the user's constraints and says why, quoting measured figures. The rule, in order:
/// <list type="number">
/// <item>An arm that failed, breaks the latency budget (p95 of total latency), cannot cite when citations are
/// required, takes longer to update than the time between knowledge updates (a 30-day month), or was trained on
/// more labelled examples than the user can afford is demoted below every arm that
/// does not, and the reasons say which constraint it broke.</item>
/// <item>Among the rest, the arms whose primary metric is within noise of the best (paired permutation p ≥ α) are
/// ordered by monthly cost of ownership (serving + updates at the stated update rate): when accuracy cannot tell
/// them apart, the cheaper one to keep fresh wins — this is where frequent fact changes favour retrieval. Costs
/// within <see cref="AnalysisOptions.CostTolerance"/> of the cheapest count as equal (timing noise), and among those
/// the higher-scoring arm comes first.</item>
/// <item>Then the significantly worse arms by their primary metric, then the demoted ones, then the failed ones.</item>
/// </list>
/// </summary>
internal static class ExperimentRecommender
{
    private const double SecondsPerMonth = 30 * 24 * 3600;

    public static Recommendation Recommend(ExperimentResults r)
    {
        var c = r.Run.Constraints;
        var o = r.Options;
        var violations = r.Arms.ToDictionary(a => a.Arm, a => Violations(r, a), StringComparer.Ordinal);
        var usable = r.Arms.Where(a => a.Error is null && a.Primary is not null).ToList();
        var failed = r.Arms.Where(a => !usable.Contains(a)).ToList();
        if (usable.Count == 0)
        {
            var why = failed.Select(a => $"{a.Arm}: {a.Error ?? "no scorable answers"}").ToList();
            return new Recommendation(null, "No arm produced scorable answers, so there is nothing to recommend.", why,
                failed.Select((a, i) => new RankedArm(i + 1, a.Arm, violations[a.Arm], false, null, a.Cost.TotalPerMonth)).ToList());
        }

        var compliant = usable.Where(a => violations[a.Arm].Count == 0).ToList();
        var pool = compliant.Count > 0 ? compliant : usable;
        var best = ExperimentAnalyzer.BestOf(pool)!;
        var tests = pool.Where(a => a != best).ToDictionary(a => a.Arm, a => ExperimentAnalyzer.Paired(a, best, o), StringComparer.Ordinal);
        bool Tied(ArmResults a) => a == best || tests[a.Arm].PValue >= o.Alpha || double.IsNaN(tests[a.Arm].PValue);

        var tied = pool.Where(Tied).ToList();
        var cheapest = tied.Min(a => a.Cost.TotalPerMonth);
        bool AsCheap(ArmResults a) => a.Cost.TotalPerMonth <= cheapest * (1 + o.CostTolerance);
        var order = tied.Where(AsCheap).OrderByDescending(a => a.Primary!.Mean).ThenBy(a => a.Cost.TotalPerMonth)
            .Concat(tied.Where(a => !AsCheap(a)).OrderBy(a => a.Cost.TotalPerMonth).ThenByDescending(a => a.Primary!.Mean))
            .Concat(pool.Where(a => !Tied(a)).OrderByDescending(a => a.Primary!.Mean))
            .Concat(usable.Except(pool).OrderByDescending(a => a.Primary!.Mean))
            .Concat(failed)
            .ToList();
        var ranking = order.Select((a, i) => new RankedArm(i + 1, a.Arm, violations[a.Arm], pool.Contains(a) && Tied(a), a.Primary?.Mean, a.Cost.TotalPerMonth)).ToList();
        var rec = order[0];

        var reasons = new List<string>();
        string m = r.PrimaryMetricName;
        reasons.Add($"{rec.Arm}: {m} {Est(rec.Primary)} on {rec.Primary!.N} answerable test questions.");
        foreach (var other in usable.Where(a => a != rec))
            reasons.Add(Versus(rec, other, m, o));
        AddParaphrase(r, rec, reasons);
        AddFreshness(r, reasons);
        if (c.CitationsRequired) AddCitations(r, rec, reasons);
        if (rec.Metrics.RecallAtK is { } recall)
            reasons.Add($"retrieval: {rec.Arm} found the gold document in the top {r.Run.RecallK} for {Pct(recall.Mean)} of answerable questions (recall@{r.Run.RecallK} {Est(recall)}).");
        if (c.LatencyBudgetMs is { } budget && rec.Latency is { } lat)
            reasons.Add($"latency budget {Ms(budget)}: {rec.Arm} p95 {Ms(lat.Total.P95)} (p50 {Ms(lat.Total.P50)}, of which retrieval {Ms(lat.Retrieval.P50)}).");
        foreach (var a in order.Where(a => violations[a.Arm].Count > 0))
            reasons.Add($"{a.Arm} demoted: {string.Join("; ", violations[a.Arm])}.");
        AddLabelledExamples(r, reasons);
        AddAbstention(r, rec, reasons);
        foreach (var f in r.Forgetting)
            reasons.Add($"forgetting: {f.Arm}'s perplexity on held-out general text went {Num(f.PerplexityBefore)} → {Num(f.PerplexityAfter)} ({(f.RelativeChange >= 0 ? "+" : "")}{Pct(f.RelativeChange)}).");
        reasons.Add($"cost: {rec.Arm} {Money(rec.Cost.PerThousandQuestions)} per 1,000 questions; {Money(rec.Cost.TotalPerMonth)}/month at {Count(o.QuestionsPerMonth)} questions and {Plain(c.UpdatesPerMonth)} updates a month (compute at {Money(c.ComputePricePerHour)}/hour).");

        return new Recommendation(rec.Arm, Summary(r, rec, usable, pool.Where(Tied).ToList(), violations), reasons, ranking);
    }

    private static List<string> Violations(ExperimentResults r, ArmResults a)
    {
        var c = r.Run.Constraints;
        var list = new List<string>();
        if (a.Error is not null) { list.Add($"failed: {a.Error}"); return list; }
        if (a.Primary is null) { list.Add("no scorable answers"); return list; }
        if (c.LatencyBudgetMs is { } budget && a.Latency is { } lat && lat.Total.P95 > budget)
            list.Add($"latency p95 {Ms(lat.Total.P95)} exceeds the {Ms(budget)} budget");
        if (c.CitationsRequired)
        {
            double rate = a.Metrics.CitationRate?.Mean ?? 0;
            if (!a.Retrieves) list.Add("citations are required and a closed-book arm shows no sources to cite");
            else if (rate < r.Options.MinCitationRate) list.Add($"citations are required but it cites a shown passage in only {Pct(rate)} of its answers");
        }
        // An arm whose update takes longer than the time between updates is never up to date.
        if (c.UpdatesPerMonth > 0 && a.Cost.UpdateSeconds > SecondsPerMonth / c.UpdatesPerMonth)
            list.Add($"one update takes {Duration(a.Cost.UpdateSeconds)} but the knowledge changes every {Duration(SecondsPerMonth / c.UpdatesPerMonth)}, so it is never up to date");
        if (c.LabelledExamplesAffordable is { } afford && r.Run.Arms.FirstOrDefault(x => x.Arm == a.Arm)?.Training is { } t && t.Examples > afford)
            list.Add($"trained on {Count(t.Examples)} labelled examples, more than the {Count(afford)} affordable");
        return list;
    }

    private static string Versus(ArmResults rec, ArmResults other, string m, AnalysisOptions o)
    {
        var t = ExperimentAnalyzer.Paired(rec, other, o);
        string verdict = double.IsNaN(t.PValue) ? "no shared questions to compare"
            : t.PValue < o.Alpha ? $"{(t.Difference >= 0 ? rec.Arm + " better" : other.Arm + " better")}, significant (paired {P(t.PValue)})"
            : $"within noise (paired {P(t.PValue)}{(rec.Primary!.Overlaps(other.Primary!) ? ", intervals overlap" : "")})";
        return $"vs {other.Arm} {m} {Est(other.Primary)}: {verdict}.";
    }

    private static void AddParaphrase(ExperimentResults r, ArmResults rec, List<string> reasons)
    {
        var arms = r.Arms.Where(a => a.Paraphrased is not null && a.Seen is not null).ToList();
        if (arms.Count == 0 || rec.Paraphrased is null) return;
        reasons.Add($"on paraphrased questions {r.PrimaryMetricName}: " + string.Join(", ", arms.Select(a => $"{a.Arm} {Est(a.Paraphrased)}"))
            + "; on seen wording: " + string.Join(", ", arms.Select(a => $"{a.Arm} {Num(a.Seen!.Mean)}")) + ".");
    }

    // A trained arm that retrieves can be brought up to date by re-ingest alone (RAFT teaches reading, not facts):
    // the runner then measures no more than the re-ingest, and the reason must not call it retraining.
    private static string UpdateKind(ExperimentResults r, ArmResults a)
    {
        double reingest = r.Run.Freshness?.ReingestSeconds ?? 0;
        if (!a.Trained || a.Cost.UpdateSeconds <= reingest) return "re-ingest";
        return a.Retrieves ? "retraining + re-ingest" : "retraining";
    }

    private static void AddFreshness(ExperimentResults r, List<string> reasons)
    {
        var c = r.Run.Constraints;
        if (c.UpdatesPerMonth > 0)
        {
            var parts = new List<string>();
            foreach (var a in r.Arms.Where(a => a.Error is null && (a.Trained || a.Retrieves)))
                parts.Add($"{a.Arm} {Duration(a.Cost.UpdateSeconds)} ({UpdateKind(r, a)}, {Money(a.Cost.UpdatesPerMonthCost)}/month)");
            if (parts.Count > 0)
                reasons.Add($"facts change {Plain(c.UpdatesPerMonth)}x/month; bringing an arm up to date each time costs: {string.Join(", ", parts)}.");
        }
        if (r.Freshness is { } f && f.Arms.Count > 0)
        {
            reasons.Add($"after {f.ChangedFacts} facts changed (re-ingested, nothing retrained), {r.PrimaryMetricName} on the changed facts before → after: "
                + string.Join(", ", f.Arms.Select(a => $"{a.Arm} {Num(a.Before?.Mean)} → {Num(a.After?.Mean)}"
                    + (a.StaleRate is { } s && s > 0 ? $" ({Pct(s)} still give the old answer)" : ""))) + ".");
        }
    }

    private static void AddCitations(ExperimentResults r, ArmResults rec, List<string> reasons)
    {
        var citing = r.Arms.Where(a => a.Retrieves && a.Error is null).Select(a => a.Arm).ToList();
        reasons.Add($"citations required: only retrieval arms ({string.Join(", ", citing)}) can cite; {rec.Arm} cites a shown passage in "
            + $"{Pct(rec.Metrics.CitationRate?.Mean)} of its answers, citation precision {Num(rec.Metrics.CitationPrecision?.Mean)}, groundedness {Num(rec.Metrics.Groundedness?.Mean)}.");
    }

    private static void AddLabelledExamples(ExperimentResults r, List<string> reasons)
    {
        if (r.LearningCurve is not { Target: { } target, TargetArm: { } targetArm } lc) return;
        int? afford = r.Run.Constraints.LabelledExamplesAffordable;
        foreach (var fit in lc.Fits)
        {
            string series = fit.WithParaphrases ? "with paraphrases" : "without paraphrases";
            string? text = fit.Verdict switch
            {
                ReachVerdict.Reached => $"ft ({series}) already reaches {targetArm}'s {r.PrimaryMetricName} {Num(target)} with {Count(fit.ExamplesToTarget!.Value)} examples",
                ReachVerdict.Extrapolated => $"ft ({series}) would need about {Count(fit.ExamplesToTarget!.Value)} labelled examples to reach {targetArm}'s {r.PrimaryMetricName} {Num(target)} (fit on ln examples, slope {Num(fit.Slope)} per e-fold)",
                ReachVerdict.NotReachable => $"ft ({series}) does not reach {targetArm}'s {r.PrimaryMetricName} {Num(target)} within {Count(fit.Limit)} examples ({(fit.Slope is { } s && s <= 0 ? "the learning curve is flat" : "the fit rises too slowly")})",
                _ => null,
            };
            if (text is null) continue;
            if (afford is { } n && fit.Verdict != ReachVerdict.NotReachable && fit.ExamplesToTarget is { } need)
                text += need > n ? $", more than the {Count(n)} affordable" : $", within the {Count(n)} affordable";
            reasons.Add(text + ".");
        }
    }

    private static void AddAbstention(ExperimentResults r, ArmResults rec, List<string> reasons)
    {
        if (rec.Metrics.Hallucination is null) return;
        string abst = rec.Metrics.Abstention is { } a ? $"abstains on {Pct(a.Mean)} of unanswerable questions and " : "";
        var others = r.Arms.Where(x => x != rec && x.Metrics.Hallucination is not null).Select(x => $"{x.Arm} {Pct(x.Metrics.Hallucination!.Mean)}");
        reasons.Add($"{rec.Arm} {abst}answers confidently wrong on {Pct(rec.Metrics.Hallucination.Mean)} of questions (hallucination; {string.Join(", ", others)}).");
    }

    private static string Summary(ExperimentResults r, ArmResults rec, IReadOnlyList<ArmResults> usable, IReadOnlyList<ArmResults> tiedWithBest,
        Dictionary<string, List<string>> violations)
    {
        string m = r.PrimaryMetricName;
        var s = $"Recommended: {rec.Arm} ({m} {Est(rec.Primary)})";
        if (rec.Arm is ArmNames.FineTunedRag or ArmNames.RaftRag) s += "; the hybrid wins";
        var top = ExperimentAnalyzer.BestOf(usable)!;
        if (top != rec && violations[top.Arm].Count > 0)
            s += $"; {top.Arm} scored higher ({Num(top.Primary!.Mean)}) but {violations[top.Arm][0]}";
        // The recommendation is the cheapest of the arms the data cannot tell apart from the best; name the others.
        var others = tiedWithBest.Where(a => a != rec).ToList();
        if (others.Count > 0)
        {
            var list = others.Select(a => $"{a.Arm} ({m} {Num(a.Primary!.Mean)}, paired {P(ExperimentAnalyzer.Paired(a, rec, r.Options).PValue)}, {Money(a.Cost.TotalPerMonth)}/month)");
            s += $"; {string.Join(", ", list)} {(others.Count == 1 ? "is" : "are")} within noise of it"
                + (others.All(a => a.Cost.TotalPerMonth > rec.Cost.TotalPerMonth)
                    ? $", and {rec.Arm} costs least to run and keep fresh ({Money(rec.Cost.TotalPerMonth)}/month)"
                    : others.All(a => a.Cost.TotalPerMonth >= rec.Cost.TotalPerMonth)
                        ? $", and at no higher cost {rec.Arm} scores highest"
                        : $", and {rec.Arm} scores highest at a cost within {Pct(r.Options.CostTolerance)} of the cheapest ({Money(rec.Cost.TotalPerMonth)}/month; closer than one run's timing can tell)");
        }
        if (violations[rec.Arm].Count > 0) s += $"; every arm breaks a constraint, {rec.Arm} is the best of them: {string.Join("; ", violations[rec.Arm])}";
        return s + ".";
    }
}
