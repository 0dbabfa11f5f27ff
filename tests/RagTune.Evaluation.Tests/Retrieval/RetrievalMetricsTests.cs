using RagTune.Evaluation.Retrieval;

namespace RagTune.Evaluation.Tests.Retrieval;

public sealed class RetrievalMetricsTests
{
    private static readonly Dictionary<string, int> s_qrels = new() { ["d2"] = 1, ["d3"] = 2, ["d4"] = 1, ["d9"] = 0 };

    [Fact]
    public void Ndcg_matches_a_hand_computed_graded_case()
    {
        // DCG = 1/log2(3) + 2/log2(4) = 0.630930 + 1 = 1.630930; IDCG = 2/1 + 1/log2(3) + 1/log2(4) = 3.130930.
        Assert.Equal(1.630930 / 3.130930, RetrievalMetrics.Ndcg(["d1", "d2", "d3"], s_qrels, 10), 6);
        Assert.Equal(1.0, RetrievalMetrics.Ndcg(["d3", "d2", "d4", "d1"], s_qrels, 10), 12);
        Assert.Equal(1.0, RetrievalMetrics.Ndcg(["d3", "d4", "d2"], s_qrels, 10), 12); // equal gains may swap
        Assert.Equal(0, RetrievalMetrics.Ndcg(["d1", "d9"], s_qrels, 10));
        Assert.Equal(0, RetrievalMetrics.Ndcg([], s_qrels, 10));
    }

    [Fact]
    public void Ndcg_cuts_at_k_both_in_the_ranking_and_the_ideal()
    {
        // k = 1: DCG = 0 (d1 is not relevant); with d3 first it is 2 / 2 = 1.
        Assert.Equal(0, RetrievalMetrics.Ndcg(["d1", "d3"], s_qrels, 1));
        Assert.Equal(1, RetrievalMetrics.Ndcg(["d3", "d1"], s_qrels, 1));
        // k = 2, ranking d2, d3: DCG = 1 + 2/log2(3) = 2.261860; IDCG@2 = 2 + 1/log2(3) = 2.630930.
        Assert.Equal(2.261860 / 2.630930, RetrievalMetrics.Ndcg(["d2", "d3", "d4"], s_qrels, 2), 6);
    }

    [Fact]
    public void Recall_counts_relevant_documents_found_within_k()
    {
        Assert.Equal(2.0 / 3, RetrievalMetrics.Recall(["d1", "d2", "d3"], s_qrels, 10), 12);
        Assert.Equal(1.0 / 3, RetrievalMetrics.Recall(["d1", "d2", "d3"], s_qrels, 2), 12);
        Assert.Equal(0, RetrievalMetrics.Recall(["d9", "d1"], s_qrels, 10)); // judged 0 is not relevant
        Assert.Equal(1, RetrievalMetrics.Recall(["d4", "d3", "d2"], s_qrels, 100));
    }

    [Fact]
    public void Reciprocal_rank_is_that_of_the_first_relevant_document_within_k()
    {
        Assert.Equal(0.5, RetrievalMetrics.ReciprocalRank(["d1", "d2", "d3"], s_qrels, 10));
        Assert.Equal(1, RetrievalMetrics.ReciprocalRank(["d4"], s_qrels, 10));
        Assert.Equal(0, RetrievalMetrics.ReciprocalRank(["d1", "d9", "d2"], s_qrels, 2));
        var late = Enumerable.Range(0, 10).Select(i => "x" + i).Append("d2").ToList();
        Assert.Equal(0, RetrievalMetrics.ReciprocalRank(late, s_qrels, 10));
        Assert.Equal(1.0 / 11, RetrievalMetrics.ReciprocalRank(late, s_qrels, 11), 12);
    }

    [Fact]
    public void Repeated_documents_count_once_at_their_best_rank()
    {
        // Chunks of one document collapse: d2, d2, d3 ranks d3 second.
        Assert.Equal(RetrievalMetrics.Ndcg(["d2", "d3"], s_qrels, 10), RetrievalMetrics.Ndcg(["d2", "d2", "d3"], s_qrels, 10), 12);
        Assert.Equal(1.0 / 3, RetrievalMetrics.Recall(["d2", "d2"], s_qrels, 2), 12);
    }

    [Fact]
    public void Percentile_is_nearest_rank()
    {
        double[] v = [5, 1, 3, 2, 4];
        Assert.Equal(3, RetrievalEvaluator.Percentile(v, 0.5));
        Assert.Equal(5, RetrievalEvaluator.Percentile(v, 0.95));
        Assert.Equal(1, RetrievalEvaluator.Percentile(v, 0.01));
        Assert.Equal(0, RetrievalEvaluator.Percentile([], 0.5));
    }
}
