using RagTune.Engine.Tensors;

namespace RagTune.Engine.Kernels;

// K-quant weights (Q4_K, Q5_K, Q6_K): activations are quantized once per call to Q8_K (ggml's vec_dot_type for
// all three) and every weight row is dotted super-block by super-block in integers (Quant.KQuants.Dot.cs).
// Decode and prefill share one path: for each tile of RowTile weight rows, every token of a TokenBlock streams past
// them, so a weight row is read from memory once per 64 tokens. No register-blocked prefill tiles yet.

internal static unsafe partial class MatMul
{
    /// <summary>Scratch for K-quant weights: the Q8_K copy of the activations, [T, K/256*292] bytes.</summary>
    private static long KScratchBytes(int k, int t) => (long)t * (k / Quant.QKK) * Quant.Q8_KBlockBytes;

    private static byte* PrepareActivationsK(float* x, GgmlType type, int k, int t, byte* scratch)
    {
        if (k % Quant.QKK != 0) throw new ArgumentException($"{type} weights need a multiple of {Quant.QKK} columns, got {k}.");
        if (scratch == null) throw new ArgumentNullException(nameof(scratch), $"MatMul with {type} weights needs MatMul.ScratchBytes({type}, {k}, {t}) bytes of scratch.");
        int rowBytes = k / Quant.QKK * Quant.Q8_KBlockBytes;
        for (int tok = 0; tok < t; tok++)
            Quant.QuantizeRowQ8_K(new ReadOnlySpan<float>(x + (long)tok * k, k), new Span<byte>(scratch + (long)tok * rowBytes, rowBytes));
        return scratch;
    }

    private sealed partial class Job
    {
        private void ExecuteK(int start, int end)
        {
            int blocks = _k / Quant.QKK;
            long xqRow = (long)blocks * Quant.Q8_KBlockBytes;
            for (int tok0 = 0; tok0 < _t; tok0 += TokenBlock)
            {
                int tok1 = Math.Min(_t, tok0 + TokenBlock);
                for (int r0 = start; r0 < end; r0 += RowTile)
                {
                    int r1 = Math.Min(end, r0 + RowTile);
                    for (int tok = tok0; tok < tok1; tok++)
                    {
                        byte* xq = _xq + tok * xqRow;
                        float* yr = _y + (long)tok * _n;
                        for (int r = r0; r < r1; r++)
                            yr[r] = Quant.DotKQ8_K(_type, _w + r * _wRowBytes, xq, blocks);
                    }
                }
            }
        }
    }
}
