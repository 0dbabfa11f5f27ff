using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   n  logits in the row

/// <summary>Softmax over one row.</summary>
internal static partial class Softmax
{
    /// <summary>
    /// In-place softmax, stable for any finite inputs: the maximum is subtracted before exponentiation
    /// (as ggml_soft_max and llama2.c's softmax do), so no exp overflows. Empty rows are left alone.
    /// </summary>
    public static void Forward(Span<float> x /*[n]*/)
    {
        if (x.Length == 0) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        float sum = TensorPrimitives.Sum(x);
        TensorPrimitives.Multiply(x, 1f / sum, x);
    }

    /// <summary>Scalar reference of <see cref="Forward"/> (sum in double).</summary>
    public static void ForwardReference(Span<float> x /*[n]*/)
    {
        if (x.Length == 0) return;
        float max = float.NegativeInfinity;
        foreach (float v in x) max = MathF.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = MathF.Exp(x[i] - max);
            sum += x[i];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
    }
}
