using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   n  elements (the FFN hidden size times token rows in the model)

/// <summary>Backward passes of the activation functions (training only).</summary>
internal static partial class Activations
{
    /// <summary>
    /// Gradient of y = silu(g)·u: du = dy·silu(g), dg = dy·u·σ(g)·(1 + g·(1 − σ(g))). Overwrites
    /// <paramref name="dGate"/> and <paramref name="dUp"/>; they must not alias the inputs.
    /// </summary>
    public static void SwiGluBackward(Span<float> dGate /*[n]*/, Span<float> dUp /*[n]*/, ReadOnlySpan<float> dy /*[n]*/,
        ReadOnlySpan<float> gate /*[n]*/, ReadOnlySpan<float> up /*[n]*/)
    {
        int n = CheckSwiGluBackward(dGate.Length, dUp.Length, dy.Length, gate.Length, up.Length);
        if (n == 0) return;
        var sig = dGate[..n];
        TensorPrimitives.Sigmoid(gate, sig);
        for (int i = 0; i < n; i++)
        {
            float s = sig[i], g = gate[i];
            dUp[i] = dy[i] * g * s;
            dGate[i] = dy[i] * up[i] * s * (1f + g * (1f - s));
        }
    }

    /// <summary>Scalar reference of <see cref="SwiGluBackward"/>, in double.</summary>
    public static void SwiGluBackwardReference(Span<float> dGate /*[n]*/, Span<float> dUp /*[n]*/, ReadOnlySpan<float> dy /*[n]*/,
        ReadOnlySpan<float> gate /*[n]*/, ReadOnlySpan<float> up /*[n]*/)
    {
        int n = CheckSwiGluBackward(dGate.Length, dUp.Length, dy.Length, gate.Length, up.Length);
        for (int i = 0; i < n; i++)
        {
            double g = gate[i], s = 1.0 / (1.0 + Math.Exp(-g));
            dUp[i] = (float)(dy[i] * g * s);
            dGate[i] = (float)(dy[i] * up[i] * s * (1.0 + g * (1.0 - s)));
        }
    }

    private static int CheckSwiGluBackward(int dGate, int dUp, int dy, int gate, int up)
    {
        if (gate != up || dy < gate || dGate < gate || dUp < gate)
            throw new ArgumentException($"SwiGluBackward length mismatch: gate {gate}, up {up}, dy {dy}, dGate {dGate}, dUp {dUp}.");
        return gate;
    }
}
