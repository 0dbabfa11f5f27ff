using System.Diagnostics;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using Xunit.Abstractions;

namespace RagTune.Engine.Tests.Kernels;

/// <summary>
/// Hand-run, in-cache throughput of the K-quant block dots against Q4_0 / Q8_0 (ns per 256 weights, one thread).
/// Not a timed assertion: it only prints. Run with
/// <c>RAGTUNE_PERF=1 dotnet test ... --filter "FullyQualifiedName~KQuantPerfCheck" --logger "console;verbosity=detailed"</c>.
/// </summary>
[Trait("Category", "Perf")]
public sealed unsafe class KQuantPerfCheck(ITestOutputHelper output)
{
    [Fact]
    public void KQuantDotThroughput_InCache()
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        const int superBlocks = 4, reps = 1_000_000;
        int n = superBlocks * 256;
        var rng = new Random(2);
        var src = new float[n];
        for (int i = 0; i < n; i++) src[i] = (float)(rng.NextDouble() * 2 - 1);
        byte[] Q(GgmlType t) { var b = new byte[GgmlTypes.Traits(t).RowBytes(n)]; Quant.QuantizeRow(t, src, b); return b; }
        var w40 = Q(GgmlType.Q4_0); var w80 = Q(GgmlType.Q8_0); var x80 = Q(GgmlType.Q8_0);
        var w4k = Q(GgmlType.Q4_K); var w5k = Q(GgmlType.Q5_K); var w6k = Q(GgmlType.Q6_K); var x8k = Q(GgmlType.Q8_K);
        for (int round = 0; round < 2; round++)
        {
            float sink = 0;
            double Time(Func<float> f, int r)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < r; i++) sink += f();
                return sw.Elapsed.TotalNanoseconds / r / superBlocks;
            }
            double q40 = Time(() => Quant.DotQ4_0Q8_0(w40, x80, n / 32), reps);
            double q80 = Time(() => Quant.DotQ8_0Q8_0(w80, x80, n / 32), reps);
            double q4k = Time(() => Quant.DotQ4_KQ8_K(w4k, x8k, superBlocks), reps);
            double q5k = Time(() => Quant.DotQ5_KQ8_K(w5k, x8k, superBlocks), reps);
            double q6k = Time(() => Quant.DotQ6_KQ8_K(w6k, x8k, superBlocks), reps);
            double q4kr = Time(() => Quant.DotQ4_KQ8_KReference(w4k, x8k, superBlocks), reps / 20);
            double q6kr = Time(() => Quant.DotQ6_KQ8_KReference(w6k, x8k, superBlocks), reps / 20);
            output.WriteLine($"ns per 256 weights: q4_0 {q40:F1}  q8_0 {q80:F1}  q4_k {q4k:F1}  q5_k {q5k:F1}  q6_k {q6k:F1}  (scalar q4_k {q4kr:F1}, q6_k {q6kr:F1})  [{sink}]");
        }
    }
}
