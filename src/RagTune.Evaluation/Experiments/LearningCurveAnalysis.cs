using RagTune.Evaluation.Statistics;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// The data-efficiency experiment: the fine-tuned arm's primary metric per training-set size, and per series (with
/// and without paraphrases) a fit of accuracy against ln(examples) — learning curves of fine-tuning are close to
/// log-linear over the sizes a user can label (Hestness et al. 2017, "Deep Learning Scaling is Predictable,
/// Empirically") — extrapolated to the retrieval arm's accuracy, but never beyond
/// <see cref="AnalysisOptions.ExtrapolationFactor"/> times the largest measured set.
/// </summary>
internal static class LearningCurveAnalysis
{
    public static LearningCurveResults Analyze(DataEfficiencyRun d, IReadOnlyList<ArmResults> arms, AnswerScorer scorer,
        IReadOnlyDictionary<string, ExperimentQuestion> questions, AnalysisOptions options)
    {
        var points = d.Points
            .OrderBy(p => p.WithParaphrases).ThenBy(p => p.Fraction)
            .Select(p => new LearningCurvePoint(p.Fraction, p.WithParaphrases, p.Training.Examples,
                ExperimentAnalyzer.EstimateOf(ExperimentAnalyzer.Score(scorer, questions, ArmNames.FineTuned, p.Answers,
                    $"data_efficiency (fraction {p.Fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)})").Select(s => s.Primary), options),
                p.Training.WallSeconds))
            .ToList();
        var target = arms.FirstOrDefault(a => a.Arm == ArmNames.Rag && a.Primary is not null);
        var fits = points.Select(p => p.WithParaphrases).Distinct().Order()
            .Select(w => Fit(points.Where(p => p.WithParaphrases == w).ToList(), w, target?.Primary?.Mean, options.ExtrapolationFactor))
            .ToList();
        return new LearningCurveResults(points, target?.Arm, target?.Primary?.Mean, fits);
    }

    /// <summary>Least squares of accuracy on ln(examples) over one series, and where it reaches <paramref name="target"/>.</summary>
    public static LearningCurveFit Fit(IReadOnlyList<LearningCurvePoint> series, bool withParaphrases, double? target, double extrapolationFactor)
    {
        var usable = series.Where(p => p.Examples > 0 && p.Accuracy is not null).ToList();
        double maxExamples = usable.Count == 0 ? 0 : usable.Max(p => p.Examples);
        double limit = Math.Round(maxExamples * extrapolationFactor);
        if (target is not { } t || usable.Count == 0) return new LearningCurveFit(withParaphrases, null, null, ReachVerdict.Unknown, null, limit);

        var reached = usable.Where(p => p.Accuracy!.Mean >= t).OrderBy(p => p.Examples).FirstOrDefault();
        var xs = usable.Select(p => Math.Log(p.Examples)).ToList();
        var ys = usable.Select(p => p.Accuracy!.Mean).ToList();
        double? intercept = null, slope = null;
        if (xs.Distinct().Count() >= 2)
        {
            double mx = Resampling.Mean(xs), my = Resampling.Mean(ys), sxx = 0, sxy = 0;
            for (int i = 0; i < xs.Count; i++) { sxx += (xs[i] - mx) * (xs[i] - mx); sxy += (xs[i] - mx) * (ys[i] - my); }
            slope = sxy / sxx;
            intercept = my - slope * mx;
        }
        if (reached is not null) return new LearningCurveFit(withParaphrases, intercept, slope, ReachVerdict.Reached, reached.Examples, limit);
        if (slope is not { } b || intercept is not { } a) return new LearningCurveFit(withParaphrases, null, null, ReachVerdict.Unknown, null, limit);
        // A flat or falling fit never gets there; neither does one whose target lies beyond the limit (the log-linear
        // form is only trusted a couple of orders of magnitude past the data).
        if (b <= 0) return new LearningCurveFit(withParaphrases, a, b, ReachVerdict.NotReachable, null, limit);
        double needed = Math.Exp((t - a) / b);
        return needed <= limit
            ? new LearningCurveFit(withParaphrases, a, b, ReachVerdict.Extrapolated, Math.Ceiling(needed), limit)
            : new LearningCurveFit(withParaphrases, a, b, ReachVerdict.NotReachable, null, limit);
    }
}
