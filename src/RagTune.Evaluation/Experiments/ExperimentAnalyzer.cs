using RagTune.Evaluation.Statistics;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// Turns the raw record of a comparison into figures: per-answer scores, per-arm means with bootstrap intervals,
/// paired tests against the best arm, latency, cost, freshness, the learning curve, forgetting, and the
/// recommendation. Pure and deterministic: the same run and options give the same results.
/// </summary>
public static class ExperimentAnalyzer
{
    /// <summary>Analyses <paramref name="run"/>; throws <see cref="ArgumentException"/> naming what in the run is inconsistent.</summary>
    public static ExperimentResults Analyze(ExperimentRun run, AnalysisOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        options ??= new AnalysisOptions();
        options.Validate();
        run.Constraints.Validate();
        if (run.RecallK < 1) throw new ArgumentException($"ExperimentRun.RecallK must be at least 1 (got {run.RecallK}).");

        var questions = IndexQuestions(run.TestQuestions, "test_questions");
        var seenArms = new HashSet<string>(StringComparer.Ordinal);
        foreach (var arm in run.Arms)
            if (!seenArms.Add(arm.Arm)) throw new ArgumentException($"arm '{arm.Arm}' appears twice in the run; each arm runs once.");

        var scorer = new AnswerScorer(options, run.RecallK);
        var arms = run.Arms.Select(a => SummarizeArm(run, a, Score(scorer, questions, a.Arm, a.Answers, "arms"), options)).ToList();
        arms = CompareWithBest(arms, options);

        var results = new ExperimentResults(
            run, options, PrimaryName(options.Primary), arms,
            run.Freshness is { } f ? AnalyzeFreshness(run, f, scorer, options) : null,
            run.DataEfficiency is { } d ? LearningCurveAnalysis.Analyze(d, arms, scorer, questions, options) : null,
            run.Forgetting.Select(x => new ForgettingResult(x.Arm, x.PerplexityBefore, x.PerplexityAfter,
                x.PerplexityBefore > 0 ? (x.PerplexityAfter - x.PerplexityBefore) / x.PerplexityBefore : double.NaN)).ToList(),
            new Recommendation(null, "", [], []));
        return results with { Recommendation = ExperimentRecommender.Recommend(results) };
    }

    /// <summary>The primary metric's name as reports print it.</summary>
    public static string PrimaryName(PrimaryMetric metric) => metric switch
    {
        PrimaryMetric.ExactMatch => "EM",
        PrimaryMetric.ContainsGold => "contains-gold",
        _ => "F1",
    };

    internal static Dictionary<string, ExperimentQuestion> IndexQuestions(IEnumerable<ExperimentQuestion> questions, string field)
    {
        var map = new Dictionary<string, ExperimentQuestion>(StringComparer.Ordinal);
        foreach (var q in questions)
        {
            if (!map.TryAdd(q.Id, q)) throw new ArgumentException($"{field}: question id '{q.Id}' appears twice; ids must be unique.");
            if (q.Answerable && q.Answers.Count == 0)
                throw new ArgumentException($"{field}: question '{q.Id}' is answerable but has no reference answers; add answers or mark it answerable: false.");
        }
        return map;
    }

    internal static List<AnswerScore> Score(AnswerScorer scorer, IReadOnlyDictionary<string, ExperimentQuestion> questions, string arm, IReadOnlyList<RawAnswer> answers, string where)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var scores = new List<AnswerScore>(answers.Count);
        foreach (var a in answers)
        {
            if (!questions.TryGetValue(a.QuestionId, out var q))
                throw new ArgumentException($"{where}: arm '{arm}' answers question '{a.QuestionId}', which is not among the questions it was asked.");
            if (!seen.Add(a.QuestionId)) throw new ArgumentException($"{where}: arm '{arm}' answers question '{a.QuestionId}' twice.");
            if (!(a.RetrievalMs >= 0 && a.PromptMs >= 0 && a.GenerationMs >= 0) || !double.IsFinite(a.RetrievalMs + a.PromptMs + a.GenerationMs))
                throw new ArgumentException($"{where}: arm '{arm}', question '{a.QuestionId}': retrieval_ms, prompt_ms and generation_ms must be finite and zero or more (got {a.RetrievalMs}, {a.PromptMs}, {a.GenerationMs}).");
            scores.Add(scorer.Score(arm, q, a));
        }
        return scores;
    }

    /// <summary>The bootstrap estimate of <paramref name="values"/>, or null when there are none.</summary>
    internal static Estimate? EstimateOf(IEnumerable<double?> values, AnalysisOptions options)
    {
        var list = values.Where(v => v.HasValue).Select(v => v!.Value).ToList();
        return list.Count == 0 ? null : Resampling.BootstrapMean(list, options.Resamples, options.Confidence, options.Seed);
    }

    private static ArmResults SummarizeArm(ExperimentRun run, ArmRun arm, List<AnswerScore> s, AnalysisOptions options)
    {
        var metrics = new ArmMetrics(
            EstimateOf(s.Select(x => x.ExactMatch), options),
            EstimateOf(s.Select(x => x.F1), options),
            EstimateOf(s.Select(x => x.ContainsGold), options),
            EstimateOf(s.Select(x => x.Groundedness), options),
            EstimateOf(s.Select(x => x.CitationPrecision), options),
            EstimateOf(s.Where(x => !x.Abstained).Select(x => (double?)(x.CitesShownPassage ? 1 : 0)), options),
            EstimateOf(s.Select(x => x.RecallAtK), options),
            EstimateOf(s.Where(x => !x.Answerable).Select(x => (double?)(x.Abstained ? 1 : 0)), options),
            EstimateOf(s.Where(x => x.Answerable).Select(x => (double?)(x.Abstained ? 1 : 0)), options),
            EstimateOf(s.Select(x => (double?)(x.Hallucinated ? 1 : 0)), options));
        var latency = arm.Answers.Count == 0 ? null : new LatencySummary(
            Stage(arm.Answers.Select(a => a.RetrievalMs)), Stage(arm.Answers.Select(a => a.PromptMs)),
            Stage(arm.Answers.Select(a => a.GenerationMs)), Stage(s.Select(x => x.TotalMs)));
        return new ArmResults(
            arm.Arm, arm.Error, ArmNames.Retrieves(arm.Arm), ArmNames.IsTrained(arm.Arm) || arm.Training is not null, arm.Answers.Count,
            s, metrics, EstimateOf(s.Select(x => x.Primary), options), null,
            EstimateOf(s.Where(x => !x.IsParaphrase).Select(x => x.Primary), options),
            EstimateOf(s.Where(x => x.IsParaphrase).Select(x => x.Primary), options),
            latency,
            arm.Answers.Count == 0 ? null : arm.Answers.Average(a => (double)a.PromptTokens),
            arm.Answers.Count == 0 ? null : arm.Answers.Average(a => (double)a.CompletionTokens),
            Cost(run, arm, latency, options));
    }

    private static StageLatency Stage(IEnumerable<double> ms)
    {
        var sorted = ms.OrderBy(x => x).ToList();
        return new StageLatency(Resampling.Mean(sorted), Resampling.Percentile(sorted, 0.5), Resampling.Percentile(sorted, 0.95));
    }

    /// <summary>
    /// Seconds to bring <paramref name="arm"/> up to date after the knowledge changes: the runner's measurement when
    /// the freshness experiment has one; otherwise retraining (the arm's training wall time, plus re-ingest when it
    /// also retrieves) for trained arms, re-ingest for retrieval arms, nothing for the closed-book base model.
    /// </summary>
    internal static double UpdateSeconds(ExperimentRun run, ArmRun arm)
    {
        if (run.Freshness?.UpdateCostSeconds.TryGetValue(arm.Arm, out var measured) == true) return measured;
        double reingest = run.Freshness?.ReingestSeconds ?? 0;
        double seconds = arm.Training?.WallSeconds ?? 0;
        if (ArmNames.Retrieves(arm.Arm)) seconds += reingest;
        return seconds;
    }

    private static CostSummary Cost(ExperimentRun run, ArmRun arm, LatencySummary? latency, AnalysisOptions options)
    {
        double price = run.Constraints.ComputePricePerHour;
        double perThousand = latency is null ? 0 : latency.Total.Mean / 3_600_000 * price * 1000;
        double serving = options.QuestionsPerMonth / 1000 * perThousand;
        double updateSeconds = UpdateSeconds(run, arm);
        double updateCost = updateSeconds / 3600 * price;
        double updates = run.Constraints.UpdatesPerMonth * updateCost;
        double training = (arm.Training?.WallSeconds ?? 0) / 3600 * price;
        return new CostSummary(perThousand, serving, updateSeconds, updateCost, updates, serving + updates, training);
    }

    private static List<ArmResults> CompareWithBest(List<ArmResults> arms, AnalysisOptions options)
    {
        var best = BestOf(arms);
        if (best is null) return arms;
        return arms.Select(a => a.Arm == best.Arm || a.Primary is null ? a : a with { VersusBest = Paired(a, best, options) }).ToList();
    }

    /// <summary>The arm with the highest primary mean (ties: the earlier arm), or null when none has one.</summary>
    internal static ArmResults? BestOf(IEnumerable<ArmResults> arms)
    {
        ArmResults? best = null;
        foreach (var a in arms)
            if (a.Primary is { } p && (best is null || p.Mean > best.Primary!.Mean)) best = a;
        return best;
    }

    /// <summary>The paired permutation test of <paramref name="a"/> − <paramref name="b"/> on the primary metric over the questions both answered.</summary>
    internal static PairedComparison Paired(ArmResults a, ArmResults b, AnalysisOptions options)
    {
        var other = b.Scores.Where(s => s.Primary.HasValue).ToDictionary(s => s.QuestionId, s => s.Primary!.Value, StringComparer.Ordinal);
        var x = new List<double>();
        var y = new List<double>();
        foreach (var s in a.Scores)
            if (s.Primary is { } v && other.TryGetValue(s.QuestionId, out var w)) { x.Add(v); y.Add(w); }
        return Resampling.PairedPermutation(x, y, options.Resamples, options.Seed);
    }

    private static FreshnessResults AnalyzeFreshness(ExperimentRun run, FreshnessRun f, AnswerScorer scorer, AnalysisOptions options)
    {
        var changed = IndexQuestions(f.ChangedQuestions, "freshness.changed_questions");
        // Before the change the right answer was the old one, so before-answers are scored against the original
        // question (same id) when the run has it.
        var original = new Dictionary<string, ExperimentQuestion>(StringComparer.Ordinal);
        foreach (var q in run.TrainQuestions.Concat(run.TestQuestions)) original.TryAdd(q.Id, q);
        var old = changed.ToDictionary(kv => kv.Key, kv => original.GetValueOrDefault(kv.Key) ?? kv.Value, StringComparer.Ordinal);

        var names = f.Before.Select(a => a.Arm).Concat(f.After.Select(a => a.Arm)).Distinct(StringComparer.Ordinal).ToList();
        var result = new List<FreshnessArm>();
        foreach (var name in names)
        {
            var before = f.Before.FirstOrDefault(a => a.Arm == name);
            var after = f.After.FirstOrDefault(a => a.Arm == name);
            var b = before is null ? null : Score(scorer, old, name, before.Answers, "freshness.before");
            var a = after is null ? null : Score(scorer, changed, name, after.Answers, "freshness.after");
            double? stale = null;
            if (after is not null)
            {
                var staleFlags = after.Answers
                    .Where(x => old[x.QuestionId].Answerable && !old[x.QuestionId].Answers.SequenceEqual(changed[x.QuestionId].Answers))
                    .Select(x => scorer.IsCorrect(x.Text, old[x.QuestionId].Answers) && !scorer.IsCorrect(x.Text, changed[x.QuestionId].Answers) ? 1.0 : 0.0)
                    .ToList();
                if (staleFlags.Count > 0) stale = staleFlags.Average();
            }
            var armRun = run.Arms.FirstOrDefault(x => x.Arm == name) ?? after ?? before!;
            result.Add(new FreshnessArm(name,
                b is null ? null : EstimateOf(b.Select(x => x.Primary), options),
                a is null ? null : EstimateOf(a.Select(x => x.Primary), options),
                stale, UpdateSeconds(run, armRun)));
        }
        return new FreshnessResults(f.ChangedFactIds.Count, f.ChangedQuestions.Count, f.ReingestSeconds, result);
    }
}
