namespace RagTune.Evaluation.Retrieval;

/// <summary>
/// Per-query ranking metrics with the trec_eval / pytrec_eval definitions BEIR reports: linear gains, log2
/// discount, ideal DCG from the judged relevances, relevant = relevance &gt; 0, duplicates in a ranking ignored
/// after their first occurrence.
/// </summary>
internal static class RetrievalMetrics
{
    /// <summary>nDCG@k: sum of rel_i / log2(i + 1) over the top k (rank i from 1), over the same for the ideal order.</summary>
    public static double Ndcg(IReadOnlyList<string> ranked, IReadOnlyDictionary<string, int> qrels, int k)
    {
        double dcg = 0;
        int i = 0;
        foreach (var id in Distinct(ranked).Take(k))
        {
            i++;
            if (qrels.TryGetValue(id, out int rel) && rel > 0) dcg += rel / Math.Log2(i + 1);
        }
        double idcg = 0;
        int j = 0;
        foreach (int rel in qrels.Values.Where(r => r > 0).OrderDescending().Take(k))
            idcg += rel / Math.Log2(++j + 1);
        return idcg == 0 ? 0 : dcg / idcg;
    }

    /// <summary>Recall@k: relevant documents in the top k over all relevant documents.</summary>
    public static double Recall(IReadOnlyList<string> ranked, IReadOnlyDictionary<string, int> qrels, int k)
    {
        int relevant = qrels.Values.Count(r => r > 0);
        if (relevant == 0) return 0;
        int found = Distinct(ranked).Take(k).Count(id => qrels.TryGetValue(id, out int r) && r > 0);
        return (double)found / relevant;
    }

    /// <summary>MRR@k: 1 / rank of the first relevant document within the top k, else 0.</summary>
    public static double ReciprocalRank(IReadOnlyList<string> ranked, IReadOnlyDictionary<string, int> qrels, int k)
    {
        int i = 0;
        foreach (var id in Distinct(ranked).Take(k))
        {
            i++;
            if (qrels.TryGetValue(id, out int r) && r > 0) return 1.0 / i;
        }
        return 0;
    }

    private static IEnumerable<string> Distinct(IReadOnlyList<string> ranked)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in ranked)
            if (seen.Add(id)) yield return id;
    }
}
