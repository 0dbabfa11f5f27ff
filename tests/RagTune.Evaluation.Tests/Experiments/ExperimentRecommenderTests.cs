using RagTune.Evaluation.Experiments;
using static RagTune.Evaluation.Tests.Experiments.RunBuilder;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class ExperimentRecommenderTests
{
    private const int N = 40;

    private static Recommendation Recommend(ExperimentConstraints constraints, params ArmRun[] arms) =>
        ExperimentAnalyzer.Analyze(Run(arms, Questions(N), constraints), Options).Recommendation;

    private static void ContainsReason(Recommendation r, string fragment) =>
        Assert.True(r.Reasons.Any(x => x.Contains(fragment, StringComparison.Ordinal)), $"no reason contains \"{fragment}\":\n{string.Join("\n", r.Reasons)}");

    [Fact]
    public void Picks_rag_when_facts_change_often_and_citations_are_required()
    {
        var r = Recommend(new ExperimentConstraints(UpdatesPerMonth: 8, CitationsRequired: true),
            Arm(ArmNames.Base, N, i => i < 4),
            Arm(ArmNames.Rag, N, i => i < 32),
            Arm(ArmNames.FineTuned, N, i => i < 34, Training(wallSeconds: 2400)),
            Arm(ArmNames.FineTunedRag, N, i => i < 33, Training(wallSeconds: 2400)));
        Assert.Equal(ArmNames.Rag, r.Recommended);
        Assert.Equal([ArmNames.Rag, ArmNames.FineTunedRag, ArmNames.FineTuned, ArmNames.Base], r.Ranking.Select(a => a.Arm));
        // The reasons quote the measured figures: rag's F1 and interval, the retraining time, citation behaviour.
        var rag = ExperimentAnalyzer.Analyze(Run([Arm(ArmNames.Rag, N, i => i < 32)], Questions(N)), Options).Arm(ArmNames.Rag)!;
        Assert.StartsWith($"Recommended: rag (F1 {ReportFormat.Est(rag.Primary)})", r.Summary, StringComparison.Ordinal);
        Assert.Contains("0.80 [", r.Summary, StringComparison.Ordinal);
        Assert.Contains("ft+rag (F1 0.83, paired p = 1.000", r.Summary, StringComparison.Ordinal);
        Assert.Contains("within noise", r.Summary, StringComparison.Ordinal);
        ContainsReason(r, "facts change 8x/month");
        ContainsReason(r, "ft 40 min (retraining,");
        ContainsReason(r, "ft+rag 40 min (retraining + re-ingest,");
        ContainsReason(r, "citations required: only retrieval arms (rag, ft+rag) can cite; rag cites a shown passage in 100% of its answers");
        ContainsReason(r, "ft demoted: citations are required and a closed-book arm shows no sources to cite");
        ContainsReason(r, "vs base F1 0.10 [");
        Assert.Empty(r.Ranking[0].Violations);
        Assert.NotEmpty(r.Ranking.Single(a => a.Arm == ArmNames.FineTuned).Violations);
    }

    [Fact]
    public void Picks_the_fine_tuned_arm_when_the_latency_budget_excludes_retrieval()
    {
        // Retrieval arms spend 300 ms on their long prompts: 325 ms in all, over a 100 ms budget.
        var r = Recommend(new ExperimentConstraints(LatencyBudgetMs: 100, UpdatesPerMonth: 1),
            Arm(ArmNames.Base, N, i => i < 4),
            Arm(ArmNames.Rag, N, i => i < 36, retrievalPromptMs: 300),
            Arm(ArmNames.FineTuned, N, i => i < 30, Training()),
            Arm(ArmNames.FineTunedRag, N, i => i < 37, Training(), retrievalPromptMs: 300));
        Assert.Equal(ArmNames.FineTuned, r.Recommended);
        ContainsReason(r, "rag demoted: latency p95 325 ms exceeds the 100 ms budget");
        ContainsReason(r, "latency budget 100 ms: ft p95 30 ms");
        Assert.Contains("ft+rag scored higher (0.93) but latency p95 325 ms exceeds the 100 ms budget", r.Summary, StringComparison.Ordinal);
        Assert.Equal(ArmNames.Base, r.Ranking[1].Arm);   // the other arm within budget, though significantly worse
        Assert.False(r.Ranking[1].WithinNoiseOfBest);
    }

    [Fact]
    public void Recommends_the_hybrid_when_it_wins_significantly()
    {
        var r = Recommend(new ExperimentConstraints(UpdatesPerMonth: 0),
            Arm(ArmNames.Rag, N, i => i < 24),
            Arm(ArmNames.FineTuned, N, i => i < 20, Training()),
            Arm(ArmNames.RaftRag, N, i => i < 38, Training()));
        Assert.Equal(ArmNames.RaftRag, r.Recommended);
        Assert.Contains("the hybrid wins", r.Summary, StringComparison.Ordinal);
        ContainsReason(r, "vs rag F1 0.60 [");
        ContainsReason(r, "raft+rag better, significant (paired p < 0.001)");
    }

    [Fact]
    public void Costs_closer_than_timing_noise_do_not_outrank_a_higher_score()
    {
        // rag and raft+rag are within noise on F1; raft+rag's prompts are 8% faster, which one run's timing cannot tell.
        var close = Recommend(new ExperimentConstraints(UpdatesPerMonth: 0),
            Arm(ArmNames.Rag, N, i => i < 36, retrievalPromptMs: 60),
            Arm(ArmNames.RaftRag, N, i => i < 34, Training(), retrievalPromptMs: 55));
        Assert.Equal(ArmNames.Rag, close.Recommended);
        Assert.Contains("rag scores highest at a cost within 25% of the cheapest", close.Summary, StringComparison.Ordinal);

        // Twice as fast is a real difference: the cheaper arm wins among equals, as before.
        var far = Recommend(new ExperimentConstraints(UpdatesPerMonth: 0),
            Arm(ArmNames.Rag, N, i => i < 36, retrievalPromptMs: 60),
            Arm(ArmNames.RaftRag, N, i => i < 34, Training(), retrievalPromptMs: 25));
        Assert.Equal(ArmNames.RaftRag, far.Recommended);
        Assert.Contains("raft+rag costs least to run and keep fresh", far.Summary, StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => new AnalysisOptions { CostTolerance = -0.1 }.Validate());
    }

    [Fact]
    public void Says_so_when_differences_are_within_noise()
    {
        var r = Recommend(new ExperimentConstraints(UpdatesPerMonth: 4),
            Arm(ArmNames.Rag, N, i => i < 28),
            Arm(ArmNames.FineTuned, N, i => i < 29 && i != 3, Training()));
        // ft scores 28/40 too but retraining makes it dearer: rag first, and the summary does not claim a winner on accuracy.
        Assert.Equal(ArmNames.Rag, r.Recommended);
        Assert.Contains("within noise", r.Summary, StringComparison.Ordinal);
        ContainsReason(r, "vs ft F1 0.70 [");
        ContainsReason(r, "within noise (paired p = ");
        Assert.True(r.Ranking.All(a => a.WithinNoiseOfBest));
    }

    [Fact]
    public void Demotes_an_arm_trained_on_more_examples_than_affordable()
    {
        var r = Recommend(new ExperimentConstraints(UpdatesPerMonth: 0, LabelledExamplesAffordable: 50),
            Arm(ArmNames.Rag, N, i => i < 20),
            Arm(ArmNames.FineTuned, N, i => i < 38, Training(examples: 100)));
        Assert.Equal(ArmNames.Rag, r.Recommended);
        ContainsReason(r, "ft demoted: trained on 100 labelled examples, more than the 50 affordable");
        Assert.Contains("ft scored higher (0.95) but trained on 100 labelled examples", r.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Demotes_an_arm_whose_retraining_outlasts_the_time_between_updates()
    {
        // Daily changes (30 a month) and 30 hours of retraining: ft is never up to date, however accurate.
        var r = Recommend(new ExperimentConstraints(UpdatesPerMonth: 30),
            Arm(ArmNames.Rag, N, i => i < 24),
            Arm(ArmNames.FineTuned, N, i => i < 38, Training(wallSeconds: 30 * 3600)));
        Assert.Equal(ArmNames.Rag, r.Recommended);
        ContainsReason(r, "ft demoted: one update takes 30 h but the knowledge changes every 24 h, so it is never up to date");
    }

    [Fact]
    public void Labelled_example_estimate_is_compared_with_what_is_affordable()
    {
        var curve = new DataEfficiencyRun([
            new(0.1, false, Training(10), Enumerable.Range(0, 20).Select(i => ClosedBook(i, i < 2)).ToList()),
            new(1.0, false, Training(100), Enumerable.Range(0, 20).Select(i => ClosedBook(i, i < 6)).ToList()),
        ]);
        var run = Run([Arm(ArmNames.Rag, 20, i => i < 10), Arm(ArmNames.FineTuned, 20, i => i < 6, Training())], Questions(20),
            new ExperimentConstraints(LabelledExamplesAffordable: 500), dataEfficiency: curve);
        var r = ExperimentAnalyzer.Analyze(run, Options).Recommendation;
        ContainsReason(r, "ft (without paraphrases) would need about 1,00");
        ContainsReason(r, "labelled examples to reach rag's F1 0.50");
        ContainsReason(r, "more than the 500 affordable");
    }

    [Fact]
    public void Every_arm_failing_gives_no_recommendation_and_says_why()
    {
        var r = Recommend(new ExperimentConstraints(), new ArmRun(ArmNames.Rag, [], null, "collection 'docs' not found"));
        Assert.Null(r.Recommended);
        Assert.Contains("nothing to recommend", r.Summary, StringComparison.Ordinal);
        Assert.Equal(["rag: collection 'docs' not found"], r.Reasons);
    }

    [Fact]
    public void A_trained_arm_brought_up_to_date_by_re_ingest_alone_is_not_said_to_retrain()
    {
        // RAFT teaches reading, not facts: the runner measures its update as the re-ingest, and the reason says so.
        var freshness = new FreshnessRun([], [], 0.5, [], [], new Dictionary<string, double> { [ArmNames.RaftRag] = 0.5, [ArmNames.FineTuned] = 2400 });
        var run = Run([Arm(ArmNames.FineTuned, N, i => i < 30, Training()), Arm(ArmNames.RaftRag, N, i => i < 30, Training())], Questions(N),
            new ExperimentConstraints(UpdatesPerMonth: 4), freshness);
        var r = ExperimentAnalyzer.Analyze(run, Options).Recommendation;
        ContainsReason(r, "raft+rag 500 ms (re-ingest,");
        ContainsReason(r, "ft 40 min (retraining,");
    }
}
