using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   n  elements (the intermediate size in BERT, times tokens)

/// <summary>
/// GELU, the BERT encoders' FFN activation, in its exact erf form: gelu(x) = x/2 · (1 + erf(x/√2)) (Hendrycks and
/// Gimpel 2016), which is HF's <c>hidden_act: "gelu"</c> (not the tanh approximation, <c>gelu_new</c>).
/// </summary>
/// <remarks>
/// .NET has no erf, so <see cref="Gelu"/> uses Abramowitz and Stegun 7.1.26 (|error of erf| ≤ 1.5e-7, below
/// float's resolution near 1), vectorised with Vector512 → 256 → 128 → scalar and <c>VectorNNN.Exp</c>. The reference
/// evaluates erf in double (Maclaurin series near 0, continued fraction for erfc in the tails).
/// </remarks>
internal static partial class Activations
{
    // Abramowitz and Stegun 7.1.26: erf(z) ≈ 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(−z²), t = 1/(1 + p·z), z ≥ 0.
    private const float ErfP = 0.3275911f, ErfA1 = 0.254829592f, ErfA2 = -0.284496736f, ErfA3 = 1.421413741f, ErfA4 = -1.453152027f, ErfA5 = 1.061405429f;
    private const float InvSqrt2 = 0.70710678118654752f;

    /// <summary>In place x = gelu(x).</summary>
    public static void Gelu(Span<float> x /*[n]*/)
    {
        int i = 0;
        ref float r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        if (Vector512.IsHardwareAccelerated)
            for (; i + Vector512<float>.Count <= x.Length; i += Vector512<float>.Count)
                Vector512.StoreUnsafe(Gelu512(Vector512.LoadUnsafe(ref r, (nuint)i)), ref r, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
                Vector256.StoreUnsafe(Gelu256(Vector256.LoadUnsafe(ref r, (nuint)i)), ref r, (nuint)i);
        if (Vector128.IsHardwareAccelerated)
            for (; i + Vector128<float>.Count <= x.Length; i += Vector128<float>.Count)
                Vector128.StoreUnsafe(Gelu128(Vector128.LoadUnsafe(ref r, (nuint)i)), ref r, (nuint)i);
        for (; i < x.Length; i++)
            x[i] = GeluScalar(x[i]);
    }

    /// <summary>Scalar double-precision reference of <see cref="Gelu"/>.</summary>
    public static void GeluReference(Span<float> x /*[n]*/)
    {
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(0.5 * x[i] * (1 + ErfReference(x[i] / Math.Sqrt(2))));
    }

    /// <summary>
    /// erf in double: Maclaurin series Σ (−1)ⁿ z^(2n+1) / (n! (2n+1)) · 2/√π for |z| ≤ 2.5, where its terms stay below
    /// e^6.25 and cancellation costs under 3 digits; beyond, 1 − erfc(|z|) from erfc's continued fraction
    /// e^(−z²)/√π · 1/(z + ½/(z + 1/(z + 3/2/(z + …)))) (Abramowitz and Stegun 7.1.14), evaluated backwards.
    /// </summary>
    internal static double ErfReference(double z)
    {
        if (double.IsNaN(z)) return z;
        double a = Math.Abs(z);
        if (a > 2.5)
        {
            double f = a;
            for (int n = 300; n >= 1; n--) f = a + n / 2.0 / f;
            double erfc = Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
            return z < 0 ? erfc - 1 : 1 - erfc;
        }
        double sum = z, term = z, z2 = z * z;
        for (int n = 1; n < 200; n++)
        {
            term *= -z2 / n;
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
        }
        return sum * 2 / Math.Sqrt(Math.PI);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float GeluScalar(float x)
    {
        float z = x * InvSqrt2;
        float a = MathF.Abs(z);
        float t = 1f / (1f + ErfP * a);
        float poly = t * (ErfA1 + t * (ErfA2 + t * (ErfA3 + t * (ErfA4 + t * ErfA5))));
        float erfAbs = 1f - poly * MathF.Exp(-a * a);
        float erf = z < 0 ? -erfAbs : erfAbs;
        return 0.5f * x * (1f + erf);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Gelu512(Vector512<float> x)
    {
        var z = x * InvSqrt2;
        var a = Vector512.Abs(z);
        var t = Vector512<float>.One / (Vector512<float>.One + a * ErfP);
        var poly = t * (Vector512.Create(ErfA1) + t * (Vector512.Create(ErfA2) + t * (Vector512.Create(ErfA3) + t * (Vector512.Create(ErfA4) + t * ErfA5))));
        var erfAbs = Vector512<float>.One - poly * Vector512.Exp(-(a * a));
        var erf = Vector512.ConditionalSelect(Vector512.LessThan(z, Vector512<float>.Zero), -erfAbs, erfAbs);
        return x * 0.5f * (Vector512<float>.One + erf);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Gelu256(Vector256<float> x)
    {
        var z = x * InvSqrt2;
        var a = Vector256.Abs(z);
        var t = Vector256<float>.One / (Vector256<float>.One + a * ErfP);
        var poly = t * (Vector256.Create(ErfA1) + t * (Vector256.Create(ErfA2) + t * (Vector256.Create(ErfA3) + t * (Vector256.Create(ErfA4) + t * ErfA5))));
        var erfAbs = Vector256<float>.One - poly * Vector256.Exp(-(a * a));
        var erf = Vector256.ConditionalSelect(Vector256.LessThan(z, Vector256<float>.Zero), -erfAbs, erfAbs);
        return x * 0.5f * (Vector256<float>.One + erf);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Gelu128(Vector128<float> x)
    {
        var z = x * InvSqrt2;
        var a = Vector128.Abs(z);
        var t = Vector128<float>.One / (Vector128<float>.One + a * ErfP);
        var poly = t * (Vector128.Create(ErfA1) + t * (Vector128.Create(ErfA2) + t * (Vector128.Create(ErfA3) + t * (Vector128.Create(ErfA4) + t * ErfA5))));
        var erfAbs = Vector128<float>.One - poly * Vector128.Exp(-(a * a));
        var erf = Vector128.ConditionalSelect(Vector128.LessThan(z, Vector128<float>.Zero), -erfAbs, erfAbs);
        return x * 0.5f * (Vector128<float>.One + erf);
    }
}
