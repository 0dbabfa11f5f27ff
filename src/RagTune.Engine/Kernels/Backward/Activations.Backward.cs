using System.Numerics.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   n  elements (the FFN hidden size times token rows in the model; BERT's intermediate size times tokens)

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

    private const float InvSqrt2Pi = 0.3989422804014327f;

    /// <summary>
    /// dx = dy · gelu′(x) with gelu′(x) = Φ(x) + x·φ(x) = ½(1 + erf(x/√2)) + x·e^(−x²/2)/√(2π), for the forward input
    /// <paramref name="x"/>. erf is the Abramowitz and Stegun 7.1.26 form <see cref="Gelu"/> uses. <paramref name="dx"/> may be <paramref name="dy"/>.
    /// </summary>
    public static void GeluBackward(Span<float> dx /*[n]*/, ReadOnlySpan<float> dy /*[n]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        CheckGeluBackward(dx.Length, dy.Length, x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            float z = v * InvSqrt2;
            float a = MathF.Abs(z);
            float t = 1f / (1f + ErfP * a);
            float poly = t * (ErfA1 + t * (ErfA2 + t * (ErfA3 + t * (ErfA4 + t * ErfA5))));
            float e = MathF.Exp(-a * a);
            float erfAbs = 1f - poly * e;
            float cdf = 0.5f * (1f + (z < 0 ? -erfAbs : erfAbs));
            dx[i] = dy[i] * (cdf + v * InvSqrt2Pi * e);
        }
    }

    /// <summary>Scalar reference of <see cref="GeluBackward"/> in double with the series/continued-fraction erf.</summary>
    public static void GeluBackwardReference(Span<float> dx /*[n]*/, ReadOnlySpan<float> dy /*[n]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        CheckGeluBackward(dx.Length, dy.Length, x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double d = 0.5 * (1 + ErfReference(v / Math.Sqrt(2))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI);
            dx[i] = (float)(dy[i] * d);
        }
    }

    private static void CheckGeluBackward(int dx, int dy, int x)
    {
        if (dx < x || dy < x)
            throw new ArgumentException($"GeluBackward length mismatch: x {x}, dy {dy}, dx {dx}.");
    }

    private static int CheckSwiGluBackward(int dGate, int dUp, int dy, int gate, int up)
    {
        if (gate != up || dy < gate || dGate < gate || dUp < gate)
            throw new ArgumentException($"SwiGluBackward length mismatch: gate {gate}, up {up}, dy {dy}, dGate {dGate}, dUp {dUp}.");
        return gate;
    }
}
