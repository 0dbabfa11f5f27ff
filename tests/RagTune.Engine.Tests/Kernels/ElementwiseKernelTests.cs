using RagTune.Engine.Kernels;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

[Trait("Category", "Kernels")]
public sealed class ElementwiseKernelTests
{
    private const int MaxLength = 257;

    [Fact]
    public void RmsNorm_MatchesReference_ForEveryLength()
    {
        var rng = new Random(30);
        for (int n = 0; n <= MaxLength; n++)
        {
            var x = Floats(rng, n, 3f);
            var w = Floats(rng, n, 2f);
            var fast = new float[n];
            var reference = new float[n];
            Norms.RmsNorm(fast, x, w, 1e-5f);
            Norms.RmsNormReference(reference, x, w, 1e-5f);
            // Float vs double sum of squares: relative error of the scale is ~n * 2^-24 at worst.
            AllClose(reference, fast, 1e-6, 2e-5, $"rmsnorm n {n}");
        }
    }

    [Fact]
    public void RmsNorm_KnownValue_AndInPlace()
    {
        float[] x = [3f, 4f];                 // mean(x²) = 12.5
        float[] w = [1f, 2f];
        Norms.RmsNorm(x, x, w, 0f);
        float s = 1f / MathF.Sqrt(12.5f);
        Assert.Equal(3f * s, x[0], 6);
        Assert.Equal(8f * s, x[1], 6);
    }

    [Fact]
    public void RmsNormRows_NormalisesEachRow()
    {
        var rng = new Random(31);
        const int t = 3, d = 37;
        var x = Floats(rng, t * d);
        var w = Floats(rng, d);
        var y = new float[t * d];
        Norms.RmsNormRows(y, x, w, t, 1e-6f);
        for (int r = 0; r < t; r++)
        {
            var expected = new float[d];
            Norms.RmsNormReference(expected, x.AsSpan(r * d, d), w, 1e-6f);
            AllClose(expected, y.AsSpan(r * d, d), 1e-6, 2e-5, $"row {r}");
        }
    }

    [Fact]
    public void Softmax_MatchesReference_ForEveryLength_AndSumsToOne()
    {
        var rng = new Random(32);
        for (int n = 0; n <= MaxLength; n++)
        {
            var x = Floats(rng, n, 20f);
            if (n > 2) x[1] = 1000f;          // stability: a naive exp would overflow
            var fast = (float[])x.Clone();
            var reference = (float[])x.Clone();
            Softmax.Forward(fast);
            Softmax.ForwardReference(reference);
            // TensorPrimitives.Exp vs MathF.Exp differ by an ulp or two; float vs double sum by ~n * 2^-24.
            AllClose(reference, fast, 1e-7, 2e-5, $"softmax n {n}");
            if (n > 0) Assert.Equal(1.0, fast.Sum(v => (double)v), 4);
        }
    }

    [Fact]
    public void SiLU_And_SwiGlu_MatchReference_ForEveryLength()
    {
        var rng = new Random(33);
        for (int n = 0; n <= MaxLength; n++)
        {
            var g = Floats(rng, n, 8f);
            if (n > 4) { g[0] = -100f; g[1] = 100f; g[2] = 0f; g[3] = -88.5f; }
            var u = Floats(rng, n, 2f);

            var fast = (float[])g.Clone();
            var reference = (float[])g.Clone();
            Activations.SiLU(fast);
            Activations.SiLUReference(reference);
            // Vector Exp vs MathF.Exp: a few ulps.
            AllClose(reference, fast, 1e-7, 1e-6, $"silu n {n}");

            var y = new float[n];
            var yRef = new float[n];
            Activations.SwiGlu(y, g, u);
            Activations.SwiGluReference(yRef, g, u);
            AllClose(yRef, y, 1e-7, 1e-6, $"swiglu n {n}");

            Activations.SwiGlu(g, g, u);      // y aliasing gate is allowed
            AllClose(yRef, g, 1e-7, 1e-6, $"swiglu in place n {n}");
        }
    }

    [Fact]
    public void InverseFrequencies_AreThetaToTheMinusTwoIOverD()
    {
        var f = new float[32];
        Rope.InverseFrequencies(f, 64, 10000f);
        Assert.Equal(1f, f[0]);
        Assert.Equal((float)Math.Pow(10000, -2.0 / 64), f[1]);
        Assert.Equal((float)Math.Pow(10000, -62.0 / 64), f[31]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Rope_MatchesReference_ForEveryEvenHeadDim(int modeNumber)
    {
        var mode = (RopeMode)modeNumber;
        var rng = new Random(34 + modeNumber);
        for (int hd = 2; hd <= 256; hd += 2)
        {
            var inv = new float[hd / 2];
            Rope.InverseFrequencies(inv, hd, 10000f);
            foreach (int pos in new[] { 0, 1, 17, 4095 })
            {
                const int heads = 3;
                var x = Floats(rng, heads * hd);
                var fast = (float[])x.Clone();
                var reference = (float[])x.Clone();
                Rope.Apply(fast, heads, hd, pos, inv, mode);
                Rope.ApplyReference(reference, heads, hd, pos, inv, mode);
                // Same angles and the same products, only the order of the multiply by -sin vs subtract differs.
                AllClose(reference, fast, 1e-6, 1e-6, $"{mode} hd {hd} pos {pos}");
            }
        }
    }

    [Fact]
    public void Rope_RotatesTheDocumentedPairs()
    {
        float[] inv = [MathF.PI / 2, 0f];     // pair 0 turns by 90 degrees at pos 1, pair 1 stays
        float[] normal = [1f, 0f, 5f, 6f];
        Rope.Apply(normal, 1, 4, 1, inv, RopeMode.Normal);
        Assert.Equal(0f, normal[0], 6);        // (x0, x1) = (1, 0) -> (0, 1)
        Assert.Equal(1f, normal[1], 6);
        Assert.Equal([5f, 6f], normal[2..]);

        float[] neox = [1f, 5f, 0f, 6f];       // pair 0 is (x[0], x[2])
        Rope.Apply(neox, 1, 4, 1, inv, RopeMode.NeoX);
        Assert.Equal(0f, neox[0], 6);
        Assert.Equal(1f, neox[2], 6);
        Assert.Equal(5f, neox[1]);
        Assert.Equal(6f, neox[3]);
    }
}
