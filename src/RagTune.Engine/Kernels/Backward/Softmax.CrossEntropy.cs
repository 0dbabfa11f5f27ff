using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   V  logits in the row (vocabulary)

/// <summary>Fused softmax + cross-entropy forward and backward (training only).</summary>
internal static partial class Softmax
{
    /// <summary>
    /// Turns one row of logits z into its gradient in place and returns the loss −log softmax(z)[target]:
    /// dz = <paramref name="dLoss"/> · (softmax(z) − onehot(target)) (llm.c's crossentropy_softmax_backward, fused).
    /// A masked row (<paramref name="target"/> &lt; 0) gets a zero gradient and returns 0.
    /// </summary>
    public static float CrossEntropyBackward(Span<float> logits /*[V], in: z, out: dz*/, int target, float dLoss)
    {
        if (target < 0) { logits.Clear(); return 0f; }
        CheckTarget(logits.Length, target);
        float max = TensorPrimitives.Max(logits);
        float zt = logits[target];
        TensorPrimitives.Subtract(logits, max, logits);
        TensorPrimitives.Exp(logits, logits);
        float sum = TensorPrimitives.Sum(logits);
        TensorPrimitives.Multiply(logits, dLoss / sum, logits);
        logits[target] -= dLoss;
        return MathF.Log(sum) + max - zt;
    }

    /// <summary>Loss of one row without the gradient (evaluation); <paramref name="scratch"/> holds V floats.</summary>
    public static float CrossEntropy(ReadOnlySpan<float> logits /*[V]*/, int target, Span<float> scratch /*[V]*/)
    {
        if (target < 0) return 0f;
        CheckTarget(logits.Length, target);
        float max = TensorPrimitives.Max(logits);
        var e = scratch[..logits.Length];
        TensorPrimitives.Subtract(logits, max, e);
        TensorPrimitives.Exp(e, e);
        return MathF.Log(TensorPrimitives.Sum(e)) + max - logits[target];
    }

    /// <summary>Scalar reference of <see cref="CrossEntropyBackward"/>, sums in double.</summary>
    public static float CrossEntropyBackwardReference(Span<float> logits /*[V]*/, int target, float dLoss)
    {
        if (target < 0) { logits.Clear(); return 0f; }
        CheckTarget(logits.Length, target);
        float max = float.NegativeInfinity;
        foreach (float v in logits) max = MathF.Max(max, v);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp((double)logits[i] - max);
        double loss = Math.Log(sum) + max - logits[target];
        for (int i = 0; i < logits.Length; i++)
            logits[i] = (float)(dLoss * (Math.Exp((double)logits[i] - max) / sum - (i == target ? 1.0 : 0.0)));
        return (float)loss;
    }

    private static void CheckTarget(int v, int target)
    {
        if (target >= v) throw new ArgumentOutOfRangeException(nameof(target), target, $"Target token {target} is outside the vocabulary [0, {v}).");
    }
}
