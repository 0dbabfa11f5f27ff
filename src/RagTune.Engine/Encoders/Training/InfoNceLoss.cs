using System.Numerics.Tensors;

namespace RagTune.Engine.Encoders;

// Dimension legend
//   Q  queries in the batch;  P  passages in the batch (every query's positive, then hard negatives)
//   H  embedding size

/// <summary>
/// InfoNCE (van den Oord et al. 2018) with in-batch negatives, as sentence-transformers' MultipleNegativesRankingLoss
/// computes it: logits[i, j] = q_i · p_j / τ, loss = mean_i −log softmax_j(logits[i, ·])[target_i]. Every other
/// passage in the batch is a negative for query i except those <c>excluded</c> marks (another copy of one of its
/// positives), which are left out of its softmax.
/// </summary>
public static class InfoNceLoss
{
    /// <summary>
    /// Returns the mean loss and writes its gradients with respect to the query and passage vectors (overwritten).
    /// </summary>
    /// <param name="dQueries">[Q, H] gradient output.</param>
    /// <param name="dPassages">[P, H] gradient output.</param>
    /// <param name="queries">[Q, H] query vectors.</param>
    /// <param name="passages">[P, H] passage vectors.</param>
    /// <param name="targets">[Q] the index of each query's positive among the passages.</param>
    /// <param name="excluded">[Q, P] true where passage j must not count as a negative for query i; empty for none.</param>
    /// <param name="temperature">τ &gt; 0 (0.05 = sentence-transformers' scale 20).</param>
    public static float Compute(Span<float> dQueries, Span<float> dPassages, ReadOnlySpan<float> queries, ReadOnlySpan<float> passages,
        ReadOnlySpan<int> targets, ReadOnlySpan<bool> excluded, float temperature)
    {
        int q = targets.Length;
        if (q == 0) throw new ArgumentException("No queries.", nameof(targets));
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive.");
        if (queries.Length % q != 0) throw new ArgumentException($"queries holds {queries.Length} floats, not a multiple of {q} queries.", nameof(queries));
        int h = queries.Length / q;
        if (h == 0 || passages.Length % h != 0) throw new ArgumentException($"passages holds {passages.Length} floats, not a multiple of the embedding size {h}.", nameof(passages));
        int p = passages.Length / h;
        if (dQueries.Length < q * h || dPassages.Length < p * h) throw new ArgumentException("Gradient outputs are smaller than their inputs.");
        if (!excluded.IsEmpty && excluded.Length != q * p) throw new ArgumentException($"excluded holds {excluded.Length} flags; {q} × {p} needed.", nameof(excluded));
        foreach (var t in targets)
            if ((uint)t >= (uint)p) throw new ArgumentOutOfRangeException(nameof(targets), t, $"A target must index one of the {p} passages.");

        dQueries[..(q * h)].Clear();
        dPassages[..(p * h)].Clear();
        var row = new float[p];
        double loss = 0;
        float invT = 1f / temperature, invQ = 1f / q;
        for (int i = 0; i < q; i++)
        {
            var qi = queries.Slice(i * h, h);
            float max = float.NegativeInfinity;
            for (int j = 0; j < p; j++)
            {
                bool off = j != targets[i] && !excluded.IsEmpty && excluded[i * p + j];
                row[j] = off ? float.NegativeInfinity : TensorPrimitives.Dot(qi, passages.Slice(j * h, h)) * invT;
                max = MathF.Max(max, row[j]);
            }
            double sum = 0;
            for (int j = 0; j < p; j++) sum += Math.Exp(row[j] - max);
            loss += Math.Log(sum) + max - row[targets[i]];
            // d loss_i / d logit_j = softmax_j − [j = target]; chain through logit = q·p/τ and the mean over queries.
            var dqi = dQueries.Slice(i * h, h);
            for (int j = 0; j < p; j++)
            {
                float g = (float)(Math.Exp(row[j] - max) / sum) - (j == targets[i] ? 1f : 0f);
                if (g == 0f) continue;
                g *= invT * invQ;
                TensorPrimitives.MultiplyAdd(passages.Slice(j * h, h), g, dqi, dqi);
                var dpj = dPassages.Slice(j * h, h);
                TensorPrimitives.MultiplyAdd(qi, g, dpj, dpj);
            }
        }
        return (float)(loss / q);
    }
}
