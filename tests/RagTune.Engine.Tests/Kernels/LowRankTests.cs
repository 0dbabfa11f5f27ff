using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

[Trait("Category", "Kernels")]
public sealed unsafe class LowRankTests
{
    [Fact]
    public void AddLowRank_matches_the_reference_over_odd_shapes()
    {
        var rng = new Random(5);
        using var pool1 = new KernelThreadPool(1);
        using var pool3 = new KernelThreadPool(3);
        foreach (int r in new[] { 1, 2, 8, 17 })
            foreach (int k in new[] { 1, 7, 33, 64 })
                foreach (int n in new[] { 1, 15, 16, 37, 130 })
                    foreach (int t in new[] { 1, 3, 9 })
                    {
                        var a = Floats(rng, r * k);
                        var bt = Floats(rng, r * n);
                        var x = Floats(rng, t * k, 2f);
                        var y0 = Floats(rng, t * n);
                        var fast = y0.ToArray();
                        var reference = y0.ToArray();
                        var hidden = new float[t * r];
                        fixed (float* pa = a, pbt = bt, px = x, pf = fast, pr = reference, ph = hidden)
                        {
                            var av = new TensorView((byte*)pa, GgmlType.F32, r, k);
                            MatMul.AddLowRank((r + n) % 2 == 0 ? pool1 : pool3, pf, px, av, pbt, n, t, ph);
                            MatMul.AddLowRankReference(pr, px, av, pbt, n, t);
                        }
                        AllClose(reference, fast, 1e-5 + 4e-6 * k * r, 1e-5, $"r={r} k={k} n={n} t={t}");
                    }
    }
}
