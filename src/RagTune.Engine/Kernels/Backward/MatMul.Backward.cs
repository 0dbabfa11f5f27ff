using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   T  token rows in the batch (B·T during training)
//   K  input features = w.Cols
//   N  output features = w.Rows
//
// Training-time products. The forward pass of a frozen weight y = x·wᵀ keeps activations in F32 (inference's
// MatMul.Forward quantizes them to Q8_0 for Q8_0/Q4_0 weights, which would bias the gradients); the input gradient
// dx = dy·w needs the transposed product with the frozen weight; the weight gradient dW = dyᵀ·x trains F32 weights
// (LoRA factors, full fine-tuning). All three are the blocked SGEMM of MatMul.Gemm.cs, which expands a quantized
// weight one block-aligned segment of a row at a time into a per-thread panel (never the whole tensor), the QLoRA
// recipe: weights stay quantized in memory.

/// <summary>Training products: F32-activation forward and the two backward products (dx for frozen weights, dW for F32 ones).</summary>
internal static unsafe partial class MatMul
{
    /// <summary>
    /// Floats of scratch the training products need for a pool of <paramref name="threads"/> threads: packed panels of
    /// both operands and expanded weight segments per thread (about 0.9 MiB each, whatever the model's width).
    /// </summary>
    public static long TrainingScratchFloats(int threads) => (long)threads * GemmThreadFloats;

    /// <summary>
    /// y[t, n] = Σ_k x[t, k] · w[n, k] with F32 activations for every weight type (F16/BF16 widened exactly, quantized
    /// rows expanded a segment at a time into <paramref name="scratch"/>, <see cref="TrainingScratchFloats"/> floats, or
    /// per-thread buffers when null), parallel over weight rows so each thread expands only its own.
    /// </summary>
    public static void ForwardDequantized(KernelThreadPool pool, float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView w /*[N, K]*/, int t, float* scratch)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        Gemm(pool, y, n, t, n, k, new GemmOperand(F32View(x, t, k), transposed: false), new GemmOperand(w, transposed: true),
            1f, accumulate: false, splitRows: false, scratch);
    }

    /// <summary>Scalar reference of <see cref="ForwardDequantized"/>: dequantize each row, dot in double.</summary>
    public static void ForwardDequantizedReference(float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView w /*[N, K]*/, int t)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        var row = new float[k];
        for (int r = 0; r < n; r++)
        {
            Quant.DequantizeRow(w.Type, w.Row(r), row);
            for (int tok = 0; tok < t; tok++)
            {
                double s = 0;
                for (int i = 0; i < k; i++) s += (double)row[i] * x[(long)tok * k + i];
                y[(long)tok * n + r] = (float)s;
            }
        }
    }

    /// <summary>
    /// dx[t, k] += Σ_n dy[t, n] · w[n, k]: the input gradient through a frozen weight of any supported type, parallel
    /// over token rows. <paramref name="scratch"/> as for <see cref="ForwardDequantized"/>.
    /// </summary>
    public static void BackwardInput(KernelThreadPool pool, float* dx /*[T, K]*/, float* dy /*[T, N]*/, in TensorView w /*[N, K]*/, int t, float* scratch)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        Gemm(pool, dx, k, t, k, n, new GemmOperand(F32View(dy, t, n), transposed: false), new GemmOperand(w, transposed: false),
            1f, accumulate: true, splitRows: true, scratch);
    }

    /// <summary>Scalar reference of <see cref="BackwardInput"/>, sums in double.</summary>
    public static void BackwardInputReference(float* dx /*[T, K]*/, float* dy /*[T, N]*/, in TensorView w /*[N, K]*/, int t)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        var wf = new float[(long)n * k];
        for (int r = 0; r < n; r++) Quant.DequantizeRow(w.Type, w.Row(r), wf.AsSpan(r * k, k));
        for (int tok = 0; tok < t; tok++)
            for (int i = 0; i < k; i++)
            {
                double s = 0;
                for (int r = 0; r < n; r++) s += (double)dy[(long)tok * n + r] * wf[(long)r * k + i];
                dx[(long)tok * k + i] += (float)s;
            }
    }

    /// <summary>
    /// dw[n, k] += scale · Σ_t dy[t, n] · x[t, k]: the gradient of an F32 weight (a LoRA factor), parallel over the longer
    /// side of dw. Packing buffers are per-thread (allocated on a thread's first call).
    /// </summary>
    public static void BackwardWeight(KernelThreadPool pool, float* dw /*[N, K]*/, float* dy /*[T, N]*/, float* x /*[T, K]*/, int t, int n, int k, float scale)
    {
        Gemm(pool, dw, k, n, k, t, new GemmOperand(F32View(dy, t, n), transposed: true), new GemmOperand(F32View(x, t, k), transposed: false),
            scale, accumulate: true, splitRows: n >= k, scratch: null);
    }

    /// <summary>Scalar reference of <see cref="BackwardWeight"/>, sums in double.</summary>
    public static void BackwardWeightReference(float* dw /*[N, K]*/, float* dy /*[T, N]*/, float* x /*[T, K]*/, int t, int n, int k, float scale)
    {
        for (int r = 0; r < n; r++)
            for (int i = 0; i < k; i++)
            {
                double s = 0;
                for (int tok = 0; tok < t; tok++) s += (double)dy[(long)tok * n + r] * x[(long)tok * k + i];
                dw[(long)r * k + i] += (float)(scale * s);
            }
    }
}
