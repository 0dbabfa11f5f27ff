using RagTune.Evaluation.Experiments;
using static RagTune.Evaluation.Tests.Experiments.RunBuilder;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class ExperimentAnalyzerTests
{
    [Fact]
    public void Arm_means_equal_hand_computed_values()
    {
        var test = Questions(10);
        test.Add(Question(10, answerable: false));
        var baseArm = Arm(ArmNames.Base, 10, i => i < 3);
        var rag = Arm(ArmNames.Rag, 10, i => i < 8);
        // The RAG arm abstains on the unanswerable question; the base arm makes something up.
        baseArm = baseArm with { Answers = [.. baseArm.Answers, ClosedBook(10, false)] };
        rag = rag with { Answers = [.. rag.Answers, new RawAnswer(Id(10), "", true, ["other"], [], 5, 0, 0, 0, 0)] };
        var r = ExperimentAnalyzer.Analyze(Run([baseArm, rag], test), Options);

        var b = r.Arm(ArmNames.Base)!;
        Assert.Equal(0.3, b.Metrics.ExactMatch!.Mean, 12);
        Assert.Equal(0.3, b.Metrics.F1!.Mean, 12);
        Assert.Equal(10, b.Metrics.F1.N);
        Assert.Equal(0, b.Metrics.Abstention!.Mean);
        Assert.Equal(8.0 / 11, b.Metrics.Hallucination!.Mean, 12);   // 7 wrong + 1 unanswerable answered
        Assert.Null(b.Metrics.RecallAtK);
        Assert.Null(b.Metrics.Groundedness);

        var g = r.Arm(ArmNames.Rag)!;
        Assert.Equal(0.8, g.Metrics.F1!.Mean, 12);
        Assert.Equal(1, g.Metrics.Abstention!.Mean);
        Assert.Equal(0, g.Metrics.FalseAbstention!.Mean);
        Assert.Equal(2.0 / 11, g.Metrics.Hallucination!.Mean, 12);
        Assert.Equal(1, g.Metrics.RecallAtK!.Mean);                   // the gold document is always ranked first
        Assert.Equal(0.8, g.Metrics.Groundedness!.Mean, 12);          // "answerI [1]." is supported, "wrong [1]." is not
        Assert.Equal(1, g.Metrics.CitationPrecision!.Mean);           // every cited passage holds the gold answer
        Assert.Equal(1, g.Metrics.CitationRate!.Mean);
        Assert.Equal(4000.0 / 11, g.PromptTokens!.Value, 9);        // the abstention used no prompt

        // The best arm is rag; base is compared with it on the same ten answerable questions.
        Assert.Null(g.VersusBest);
        Assert.Equal(-0.5, b.VersusBest!.Difference, 12);
        Assert.Equal(10, b.VersusBest.N);
        // 5 discordant questions, all favouring rag: the exact sign-flip p is 2 / 2^5 = 0.0625, not below 0.05.
        Assert.Equal(0.0625, b.VersusBest.PValue, 0.02);
        foreach (var (_, e) in g.Metrics.Named(1))
            if (e is not null) Assert.InRange(e.Mean, e.Low, e.High);
    }

    [Fact]
    public void Latency_percentiles_and_cost()
    {
        var answers = Enumerable.Range(0, 10).Select(i => new RawAnswer(Id(i), Gold(i), false, [], [], 0, 10 * (i + 1) - 5, 5, 20, 2)).ToList();
        var ft = new ArmRun(ArmNames.FineTuned, answers, Training(wallSeconds: 2400));
        var r = ExperimentAnalyzer.Analyze(Run([ft], Questions(10), new ExperimentConstraints(UpdatesPerMonth: 4, ComputePricePerHour: 0.10)), Options);
        var a = r.Arm(ArmNames.FineTuned)!;
        // Totals 10, 20, …, 100 ms: p50 = 55, p95 = 90 + 0.55·10 = 95.5 (linear interpolation), mean 55.
        Assert.Equal(55, a.Latency!.Total.P50, 9);
        Assert.Equal(95.5, a.Latency.Total.P95, 9);
        Assert.Equal(5, a.Latency.Generation.P95, 9);
        // 55 ms a question at 0.10/hour: 55 / 3.6e6 h · 0.10 · 1000 questions.
        double perThousand = 55 / 3_600_000.0 * 0.10 * 1000;
        Assert.Equal(perThousand, a.Cost.PerThousandQuestions, 12);
        Assert.Equal(perThousand * 10, a.Cost.ServingPerMonth, 12);            // 10,000 questions a month
        Assert.Equal(2400, a.Cost.UpdateSeconds);
        Assert.Equal(2400 / 3600.0 * 0.10, a.Cost.UpdateCost, 12);
        Assert.Equal(4 * 2400 / 3600.0 * 0.10, a.Cost.UpdatesPerMonthCost, 12);
        Assert.Equal(a.Cost.ServingPerMonth + a.Cost.UpdatesPerMonthCost, a.Cost.TotalPerMonth, 12);
        Assert.Equal(a.Cost.TotalPerMonth, a.Cost.TotalAt(4), 12);
    }

    [Fact]
    public void Seen_wording_versus_paraphrase()
    {
        // Questions 5..9 are paraphrases; ft only knows the wording it was trained on.
        var r = ExperimentAnalyzer.Analyze(Run([Arm(ArmNames.FineTuned, 10, i => i < 5), Arm(ArmNames.Rag, 10, i => i % 5 != 0)], Questions(10, paraphrasedFrom: 5)), Options);
        Assert.Equal(1, r.Arm(ArmNames.FineTuned)!.Seen!.Mean);
        Assert.Equal(0, r.Arm(ArmNames.FineTuned)!.Paraphrased!.Mean);
        Assert.Equal(0.8, r.Arm(ArmNames.Rag)!.Seen!.Mean, 12);
        Assert.Equal(0.8, r.Arm(ArmNames.Rag)!.Paraphrased!.Mean, 12);
    }

    [Fact]
    public void Freshness_scores_before_against_old_answers_and_after_against_new_ones()
    {
        var test = Questions(4);
        var changed = new List<ExperimentQuestion> { test[0] with { Answers = ["new0"] }, test[1] with { Answers = ["new1"] } };
        ArmRun Answers(string arm, params string[] texts) => new(arm, texts.Select((t, i) => new RawAnswer(Id(i), t, false, [], [], 0, 1, 1, 1, 1)).ToList(), null);
        var freshness = new FreshnessRun(["fact0", "fact1"], changed, 3,
            [Answers(ArmNames.Rag, "answer0 [1].", "answer1 [1]."), Answers(ArmNames.FineTuned, "answer0", "answer1")],
            [Answers(ArmNames.Rag, "new0 [1].", "answer1 [1]."), Answers(ArmNames.FineTuned, "answer0", "answer1")],
            new Dictionary<string, double> { [ArmNames.Rag] = 3, [ArmNames.FineTuned] = 2400 });
        var run = Run([Arm(ArmNames.Rag, 4, _ => true), Arm(ArmNames.FineTuned, 4, _ => true, Training())], test, freshness: freshness);
        var f = ExperimentAnalyzer.Analyze(run, Options).Freshness!;
        Assert.Equal(2, f.ChangedFacts);
        var rag = f.Arms.Single(a => a.Arm == ArmNames.Rag);
        Assert.Equal(1, rag.Before!.Mean);
        Assert.Equal(0.5, rag.After!.Mean);
        Assert.Equal(0.5, rag.StaleRate);
        Assert.Equal(3, rag.UpdateSeconds);
        var ft = f.Arms.Single(a => a.Arm == ArmNames.FineTuned);
        Assert.Equal(1, ft.Before!.Mean);
        Assert.Equal(0, ft.After!.Mean);
        Assert.Equal(1, ft.StaleRate);
        Assert.Equal(2400, ft.UpdateSeconds);
    }

    private static LearningCurveRun Point(int examples, int right, bool paraphrases = false) =>
        new(examples / 100.0, paraphrases, Training(examples, wallSeconds: examples), Enumerable.Range(0, 20).Select(i => ClosedBook(i, i < right)).ToList());

    [Fact]
    public void Learning_curve_extrapolates_to_the_rag_arm_and_says_when_it_cannot()
    {
        // rag: 10/20 = 0.5. ft: 0.1 at 10 examples, 0.3 at 100: +0.2 per decade, so 0.5 at 1000 examples.
        var run = Run([Arm(ArmNames.Rag, 20, i => i < 10)], Questions(20),
            dataEfficiency: new DataEfficiencyRun([Point(10, 2), Point(100, 6), Point(10, 6, true), Point(100, 6, true)]));
        var lc = ExperimentAnalyzer.Analyze(run, Options).LearningCurve!;
        Assert.Equal(ArmNames.Rag, lc.TargetArm);
        Assert.Equal(0.5, lc.Target);
        Assert.Equal(4, lc.Points.Count);
        var plain = lc.Fits.Single(f => !f.WithParaphrases);
        Assert.Equal(ReachVerdict.Extrapolated, plain.Verdict);
        Assert.Equal(0.2 / Math.Log(10), plain.Slope!.Value, 9);
        Assert.Equal(-0.1, plain.Intercept!.Value, 9);
        Assert.InRange(plain.ExamplesToTarget!.Value, 1000, 1001);
        Assert.Equal(10_000, plain.Limit);
        // A flat curve never gets there.
        var flat = lc.Fits.Single(f => f.WithParaphrases);
        Assert.Equal(ReachVerdict.NotReachable, flat.Verdict);
        Assert.Null(flat.ExamplesToTarget);
    }

    [Fact]
    public void Learning_curve_fit_verdicts()
    {
        static LearningCurvePoint P(int n, double acc) => new(0, false, n, new(acc, acc, acc, 20), 1);
        Assert.Equal(ReachVerdict.Reached, LearningCurveAnalysis.Fit([P(10, 0.2), P(50, 0.6)], false, 0.5, 100).Verdict);
        Assert.Equal(50, LearningCurveAnalysis.Fit([P(10, 0.2), P(50, 0.6)], false, 0.5, 100).ExamplesToTarget);
        // +0.01 per decade from 0.2 needs 10^30 examples: beyond 100 × 100.
        var slow = LearningCurveAnalysis.Fit([P(10, 0.2), P(100, 0.21)], false, 0.5, 100);
        Assert.Equal(ReachVerdict.NotReachable, slow.Verdict);
        Assert.Equal(10_000, slow.Limit);
        Assert.Equal(ReachVerdict.NotReachable, LearningCurveAnalysis.Fit([P(10, 0.3), P(100, 0.2)], false, 0.5, 100).Verdict);
        Assert.Equal(ReachVerdict.Unknown, LearningCurveAnalysis.Fit([P(10, 0.3)], false, 0.5, 100).Verdict);
        Assert.Equal(ReachVerdict.Unknown, LearningCurveAnalysis.Fit([P(10, 0.3), P(100, 0.4)], false, null, 100).Verdict);
    }

    [Fact]
    public void Forgetting_reports_the_relative_change()
    {
        var r = ExperimentAnalyzer.Analyze(Run([Arm(ArmNames.Base, 2, _ => true)], Questions(2), forgetting: [new ForgettingRun(ArmNames.FineTuned, 20, 25)]), Options);
        Assert.Equal(0.25, r.Forgetting.Single().RelativeChange, 12);
    }

    [Fact]
    public void Inconsistent_runs_fail_with_the_question_and_arm_named()
    {
        var stray = new ArmRun(ArmNames.Base, [ClosedBook(7, true)], null);
        var e = Assert.Throws<ArgumentException>(() => ExperimentAnalyzer.Analyze(Run([stray], Questions(2)), Options));
        Assert.Contains("'base'", e.Message);
        Assert.Contains("'q7'", e.Message);
        e = Assert.Throws<ArgumentException>(() => ExperimentAnalyzer.Analyze(Run([Arm(ArmNames.Base, 2, _ => true), Arm(ArmNames.Base, 2, _ => true)], Questions(2)), Options));
        Assert.Contains("twice", e.Message);
        var noAnswers = new List<ExperimentQuestion> { Question(0) with { Answers = [] } };
        e = Assert.Throws<ArgumentException>(() => ExperimentAnalyzer.Analyze(Run([], noAnswers), Options));
        Assert.Contains("'q0'", e.Message);
        Assert.Contains("no reference answers", e.Message);
        var negative = new ArmRun(ArmNames.Base, [ClosedBook(0, true, promptMs: -1)], null);
        e = Assert.Throws<ArgumentException>(() => ExperimentAnalyzer.Analyze(Run([negative], Questions(1)), Options));
        Assert.Contains("prompt_ms", e.Message);
        e = Assert.Throws<ArgumentException>(() => ExperimentAnalyzer.Analyze(Run([], Questions(1)), new AnalysisOptions { Resamples = 5 }));
        Assert.Contains("Resamples", e.Message);
    }

    [Fact]
    public void A_failed_arm_reports_its_error_while_the_others_are_scored()
    {
        var failed = new ArmRun(ArmNames.FineTuned, [], null, "training diverged: loss is NaN at step 12");
        var r = ExperimentAnalyzer.Analyze(Run([Arm(ArmNames.Rag, 5, _ => true), failed], Questions(5)), Options);
        Assert.Equal("training diverged: loss is NaN at step 12", r.Arm(ArmNames.FineTuned)!.Error);
        Assert.Null(r.Arm(ArmNames.FineTuned)!.Primary);
        Assert.Equal(1, r.Arm(ArmNames.Rag)!.Primary!.Mean);
        Assert.Equal(ArmNames.Rag, r.Recommendation.Recommended);
    }
}
