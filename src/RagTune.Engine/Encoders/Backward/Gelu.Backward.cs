namespace RagTune.Engine.Encoders;

// Dimension legend
//   n  elements (the intermediate size times token rows)

/// <summary>Backward pass of the exact-erf GELU (training only).</summary>
internal static partial class Gelu
{
    private const float InvSqrt2Pi = 0.3989422804014327f;

    /// <summary>
    /// dx = dy · gelu′(x) with gelu′(x) = Φ(x) + x·φ(x) = ½(1 + erf(x/√2)) + x·e^(−x²/2)/√(2π), for the forward input
    /// <paramref name="x"/>. erf is the Abramowitz and Stegun 7.1.26 form <see cref="Forward"/> uses. <paramref name="dx"/> may be <paramref name="dy"/>.
    /// </summary>
    public static void Backward(Span<float> dx /*[n]*/, ReadOnlySpan<float> dy /*[n]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        CheckBackward(dx.Length, dy.Length, x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            float z = v * InvSqrt2;
            float a = MathF.Abs(z);
            float t = 1f / (1f + P * a);
            float poly = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5))));
            float e = MathF.Exp(-a * a);
            float erfAbs = 1f - poly * e;
            float cdf = 0.5f * (1f + (z < 0 ? -erfAbs : erfAbs));
            dx[i] = dy[i] * (cdf + v * InvSqrt2Pi * e);
        }
    }

    /// <summary>Scalar reference of <see cref="Backward"/> in double with the series/continued-fraction erf.</summary>
    public static void BackwardReference(Span<float> dx /*[n]*/, ReadOnlySpan<float> dy /*[n]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        CheckBackward(dx.Length, dy.Length, x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double d = 0.5 * (1 + ErfReference(v / Math.Sqrt(2))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI);
            dx[i] = (float)(dy[i] * d);
        }
    }

    private static void CheckBackward(int dx, int dy, int x)
    {
        if (dx < x || dy < x)
            throw new ArgumentException($"Gelu.Backward length mismatch: x {x}, dy {dy}, dx {dx}.");
    }
}
