using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   n  elements (the FFN hidden size in the model)

/// <summary>Elementwise activation functions.</summary>
internal static unsafe partial class Activations
{
    /// <summary>In place x = x * sigmoid(x) = x / (1 + e^-x) (SiLU / swish, Elfwing et al. 2017).</summary>
    public static void SiLU(Span<float> x /*[n]*/) => SwiGluCore(x, x, default, gated: false);

    /// <summary>Scalar reference of <see cref="SiLU"/>.</summary>
    public static void SiLUReference(Span<float> x /*[n]*/)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1f + MathF.Exp(-x[i]));
    }

    /// <summary>
    /// y = silu(gate) * up, the gated FFN of Llama (Shazeer 2020, "GLU Variants Improve Transformer").
    /// <paramref name="y"/> may alias <paramref name="gate"/> or <paramref name="up"/>.
    /// </summary>
    public static void SwiGlu(Span<float> y /*[n]*/, ReadOnlySpan<float> gate /*[n]*/, ReadOnlySpan<float> up /*[n]*/)
    {
        if (gate.Length != up.Length || y.Length < gate.Length)
            throw new ArgumentException($"SwiGlu length mismatch: gate {gate.Length}, up {up.Length}, y {y.Length}.");
        SwiGluCore(y, gate, up, gated: true);
    }

    /// <summary>Scalar reference of <see cref="SwiGlu"/>.</summary>
    public static void SwiGluReference(Span<float> y /*[n]*/, ReadOnlySpan<float> gate /*[n]*/, ReadOnlySpan<float> up /*[n]*/)
    {
        if (gate.Length != up.Length || y.Length < gate.Length)
            throw new ArgumentException($"SwiGlu length mismatch: gate {gate.Length}, up {up.Length}, y {y.Length}.");
        for (int i = 0; i < gate.Length; i++) y[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    private static void SwiGluCore(Span<float> y, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, bool gated)
    {
        int n = gate.Length, i = 0;
        fixed (float* py = y)
        fixed (float* pg = gate)
        fixed (float* pu = up)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                for (; i + 16 <= n; i += 16)
                {
                    var g = Vector512.Load(pg + i);
                    var s = g / (Vector512<float>.One + Vector512.Exp(-g));
                    (gated ? s * Vector512.Load(pu + i) : s).Store(py + i);
                }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + 8 <= n; i += 8)
                {
                    var g = Vector256.Load(pg + i);
                    var s = g / (Vector256<float>.One + Vector256.Exp(-g));
                    (gated ? s * Vector256.Load(pu + i) : s).Store(py + i);
                }
            }
            if (Vector128.IsHardwareAccelerated)
            {
                for (; i + 4 <= n; i += 4)
                {
                    var g = Vector128.Load(pg + i);
                    var s = g / (Vector128<float>.One + Vector128.Exp(-g));
                    (gated ? s * Vector128.Load(pu + i) : s).Store(py + i);
                }
            }
            for (; i < n; i++) py[i] = Scalar(pg[i]) * (gated ? pu[i] : 1f);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Scalar(float g) => g / (1f + MathF.Exp(-g));
}
