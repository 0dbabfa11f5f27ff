using System.Diagnostics;
using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;
using Xunit.Abstractions;

namespace RagTune.Engine.Tests.Kernels;

/// <summary>
/// Hand-run breakdown of a LoRA training step's kernels at SmolLM2-135M shapes (T = 4·256 token rows, dim 576,
/// hidden 1536, 9/3 heads of 64, vocab 49152): GFLOP/s of each training product and the time of the attention
/// passes, per call and scaled to one step (30 layers). Not a timed assertion: it only prints. Run with
/// <c>RAGTUNE_PERF=1 dotnet test ... --filter FullyQualifiedName~TrainingGemmPerfCheck --logger "console;verbosity=detailed"</c>.
/// </summary>
[Trait("Category", "Perf")]
public sealed unsafe class TrainingGemmPerfCheck(ITestOutputHelper output)
{
    private const int T = 1024, Layers = 30;

    private readonly List<nint> _blocks = [];

    private float* Alloc(long floats, Random rng)
    {
        var p = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        _blocks.Add((nint)p);
        for (long i = 0; i < floats; i++) p[i] = (float)(rng.NextDouble() * 2 - 1) * 0.1f;
        return p;
    }

    /// <summary>Best-of-2 wall milliseconds per call after 300 ms of warm-up.</summary>
    private static double Time(Action run)
    {
        var warm = Stopwatch.StartNew();
        do run(); while (warm.ElapsedMilliseconds < 300);
        double best = double.MaxValue;
        for (int i = 0; i < 2; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
        }
        return best;
    }

    [Fact]
    public void TrainingProductsAndAttention()
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        int threads = int.TryParse(Environment.GetEnvironmentVariable("RAGTUNE_PERF_THREADS"), out var th) ? th : 2;
        using var pool = new KernelThreadPool(threads);
        var rng = new Random(1);
        const int maxW = 1536, vocab = 49152;
        float* x = Alloc((long)T * maxW, rng), dy = Alloc((long)T * vocab, rng), y = Alloc((long)T * vocab, rng);
        float* scratch = Alloc(MatMul.TrainingScratchFloats(threads), rng);
        double stepMs = 0;
        // Small calls first, so that the timed ones run tier-1 code rather than the first tiers of the JIT.
        var small = new TensorView((byte*)x, GgmlType.F32, 64, 64);
        for (int i = 0; i < 200; i++)
        {
            MatMul.ForwardDequantized(pool, y, x, small, 64, scratch);
            MatMul.BackwardInput(pool, y, dy, small, 64, scratch);
            MatMul.BackwardWeight(pool, y, dy, x, 64, 64, 64, 1f);
        }
        output.WriteLine($"threads {threads}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        // (N, K, calls per step): q and o, k and v, gate and up, down, the tied output projection.
        (int N, int K, int Calls)[] shapes = [(576, 576, 2 * Layers), (192, 576, 2 * Layers), (1536, 576, 2 * Layers), (576, 1536, Layers), (vocab, 576, 1)];
        foreach (var type in new[] { GgmlType.F32, GgmlType.Q8_0 })
        {
            double typeMs = 0;
            foreach (var (n, k, calls) in shapes)
            {
                long rowBytes = GgmlTypes.Traits(type).RowBytes(k);
                var wb = (byte*)NativeMemory.AlignedAlloc((nuint)(n * rowBytes), 64);
                var row = new float[k];
                for (int r = 0; r < n; r++)
                {
                    for (int i = 0; i < k; i++) row[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
                    Quant.QuantizeRow(type, row, new Span<byte>(wb + r * rowBytes, (int)rowBytes));
                }
                var w = new TensorView(wb, type, n, k);
                double flop = 2.0 * T * n * k;
                double fwd = Time(() => MatMul.ForwardDequantized(pool, y, x, w, T, scratch));
                double bwd = Time(() => MatMul.BackwardInput(pool, x, dy, w, T, scratch));
                typeMs += (fwd + bwd) * calls;
                output.WriteLine($"{type,-5} N {n,5} K {k,4}: forward {fwd,8:F1} ms {flop / fwd / 1e6,6:F1} GFLOP/s | backward input {bwd,8:F1} ms {flop / bwd / 1e6,6:F1} GFLOP/s  (x{calls} per step)");
                NativeMemory.AlignedFree(wb);
            }
            output.WriteLine($"{type,-5} base products per step (forward + backward input): {typeMs / 1000:F1} s");
            stepMs = typeMs;
        }

        // LoRA rank 8 on the seven targets: h = x·Aᵀ, y += s·h·Bᵀ forward; dB, dh = dy·B, dA, dx += dh·A backward.
        const int r8 = 8;
        float* a = Alloc((long)r8 * maxW, rng), bmat = Alloc((long)maxW * r8, rng), ga = Alloc((long)r8 * maxW, rng), gb = Alloc((long)maxW * r8, rng);
        double loraMs = 0;
        foreach (var (n, k, calls) in shapes[..4])
        {
            var av = new TensorView((byte*)a, GgmlType.F32, r8, k);
            var bv = new TensorView((byte*)bmat, GgmlType.F32, n, r8);
            double f1 = Time(() => MatMul.ForwardDequantized(pool, y, x, av, T, scratch));
            double f2 = Time(() => MatMul.ForwardDequantized(pool, y, dy, bv, T, scratch));
            double b1 = Time(() => MatMul.BackwardWeight(pool, gb, dy, y, T, n, r8, 1f));
            double b2 = Time(() => MatMul.BackwardInput(pool, y, dy, bv, T, null));
            double b3 = Time(() => MatMul.BackwardWeight(pool, ga, y, x, T, r8, k, 1f));
            double b4 = Time(() => MatMul.BackwardInput(pool, x, y, av, T, null));
            loraMs += (f1 + f2 + b1 + b2 + b3 + b4) * calls;
            output.WriteLine($"LoRA N {n,5} K {k,4}: x·Aᵀ {f1:F2}  h·Bᵀ {f2:F2}  dB {b1:F2}  dy·B {b2:F2}  dA {b3:F2}  dh·A {b4:F2} ms");
        }
        output.WriteLine($"LoRA products per step: {loraMs / 1000:F1} s");

        const int batch = 4, seq = 256, heads = 9, kvHeads = 3, hd = 64;
        float* q = Alloc((long)T * heads * hd, rng), kk = Alloc((long)T * kvHeads * hd, rng), v = Alloc((long)T * kvHeads * hd, rng);
        float* o = Alloc((long)T * heads * hd, rng), probs = Alloc((long)batch * heads * seq * seq, rng);
        float* dq = Alloc((long)T * heads * hd, rng), dk = Alloc((long)T * kvHeads * hd, rng), dv = Alloc((long)T * kvHeads * hd, rng);
        float* attScratch = Alloc(Attention.BackwardScratchFloats(seq), rng);
        double af = Time(() => Attention.ForwardTraining(pool, o, probs, q, kk, v, batch, seq, heads, kvHeads, hd));
        double ab = Time(() => Attention.Backward(pool, dq, dk, dv, o, probs, q, kk, v, batch, seq, heads, kvHeads, hd, attScratch));
        output.WriteLine($"attention forward {af:F1} ms, backward {ab:F1} ms: {(af + ab) * Layers / 1000:F1} s per step");
        output.WriteLine($"Q8_0 step estimate (products + LoRA + attention): {(stepMs + loraMs + (af + ab) * Layers) / 1000:F1} s");
        foreach (var block in _blocks) NativeMemory.AlignedFree((void*)block);
    }
}
