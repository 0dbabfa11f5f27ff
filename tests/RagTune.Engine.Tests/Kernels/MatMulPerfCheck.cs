using System.Diagnostics;
using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;
using Xunit.Abstractions;

namespace RagTune.Engine.Tests.Kernels;

/// <summary>
/// Hand-run throughput check of <see cref="MatMul.Forward"/> at the SmolLM2-135M output-projection shape
/// (N = 49152, K = 576). Not a timed assertion: it only prints. Run with
/// <c>RAGTUNE_PERF=1 dotnet test ... --filter Category=Perf --logger "console;verbosity=detailed"</c>.
/// </summary>
[Trait("Category", "Perf")]
public sealed unsafe partial class MatMulPerfCheck(ITestOutputHelper output)
{
    // The dev box is shared: wall time includes time spent descheduled. Thread CPU time (Linux) does not, so the
    // single-thread figures are also given per CPU second.
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    private static double ThreadCpuSeconds()
    {
        if (!OperatingSystem.IsLinux() || ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var t) != 0) return double.NaN;
        return t.Seconds + t.Nanoseconds * 1e-9;
    }

    [Fact]
    public void BlockDotThroughput_InCache()
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        const int blocks = 18, reps = 2_000_000;
        var rng = new Random(2);
        var src = new float[blocks * 32];
        for (int i = 0; i < src.Length; i++) src[i] = (float)(rng.NextDouble() * 2 - 1);
        var w8 = new byte[blocks * 34];
        var w4 = new byte[blocks * 18];
        var x8 = new byte[blocks * 34];
        Quant.QuantizeRowQ8_0(src, w8);
        Quant.QuantizeRowQ4_0(src, w4);
        Quant.QuantizeRowQ8_0(src, x8);
        fixed (byte* pw8 = w8, pw4 = w4, px = x8)
        {
            for (int round = 0; round < 2; round++)
            {
                float sink = 0;
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < reps; i++) sink += Quant.DotQ8_0Q8_0(pw8, px, blocks);
                double q8 = sw.Elapsed.TotalNanoseconds / reps / blocks;
                sw.Restart();
                for (int i = 0; i < reps; i++) sink += Quant.DotQ4_0Q8_0(pw4, px, blocks);
                double q4 = sw.Elapsed.TotalNanoseconds / reps / blocks;
                output.WriteLine($"in-cache block dot: q8_0 {q8:F2} ns/block, q4_0 {q4:F2} ns/block (sink {sink})");
            }
        }
    }

    private sealed class EmptyJob : IRangeJob
    {
        public void Execute(int start, int end) { }
    }

    [Fact]
    public void PoolForLatency()
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        using var pool = new KernelThreadPool(2);
        var job = new EmptyJob();
        for (int i = 0; i < 100_000; i++) pool.For(2, job);
        double best = double.MaxValue;
        for (int w = 0; w < 5; w++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 20_000; i++) pool.For(2, job);
            best = Math.Min(best, sw.Elapsed.TotalNanoseconds / 20_000);
        }
        double cold = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(5);  // the worker is blocked on its event after the spin window
            var sw = Stopwatch.StartNew();
            pool.For(2, job);
            cold = Math.Min(cold, sw.Elapsed.TotalNanoseconds);
        }
        output.WriteLine($"KernelThreadPool(2).For round trip: hot {best:F0} ns, after sleep {cold / 1000:F1} us");
    }

    [Theory]
    [InlineData(64)]
    [InlineData(4)]
    [InlineData(8)]
    public void QuantTilesThroughput(int t)
    {
        // The AVX-512 tiles (int16, int8 on packed panels, int8 on the GGUF blocks directly) at SmolLM2-135M's layer
        // shapes (one thread), alternated window by window so that all see the same machine load; best thread CPU
        // time per call.
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        var kinds = new[] { MatMul.QuantTiles.Int16, MatMul.QuantTiles.Int8Panel, MatMul.QuantTiles.Int8Direct };
        var rng = new Random(3);
        using var pool = new KernelThreadPool(1);
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0 })
            foreach (var (n, k) in new[] { (576, 576), (1536, 576), (576, 1536) })
            {
                long rowBytes = GgmlTypes.Traits(type).RowBytes(k);
                var wBytes = new byte[n * rowBytes];
                var row = new float[k];
                for (int r = 0; r < n; r++)
                {
                    for (int i = 0; i < k; i++) row[i] = (float)(rng.NextDouble() * 2 - 1);
                    Quant.QuantizeRow(type, row, wBytes.AsSpan((int)(r * rowBytes), (int)rowBytes));
                }
                var x = new float[t * k];
                for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                var y = new float[t * n];
                var scratch = new byte[MatMul.ScratchBytes(type, k, t)];
                var best = kinds.Select(_ => double.MaxValue).ToArray();
                int reps = Math.Max(10, 640 / t);
                fixed (byte* pw = wBytes, ps = scratch)
                fixed (float* px = x, py = y)
                {
                    var view = new TensorView(pw, type, n, k);
                    var warm = Stopwatch.StartNew();   // past tiered compilation of every path
                    do
                        foreach (var kind in kinds) MatMul.ForwardWithTiles(pool, py, px, view, t, ps, kind);
                    while (warm.ElapsedMilliseconds < 500);
                    for (int window = 0; window < 10; window++)
                    {
                        for (int path = 0; path < kinds.Length; path++)
                        {
                            double cpu0 = ThreadCpuSeconds();
                            for (int rep = 0; rep < reps; rep++) MatMul.ForwardWithTiles(pool, py, px, view, t, ps, kinds[path]);
                            best[path] = Math.Min(best[path], (ThreadCpuSeconds() - cpu0) * 1000 / reps);
                        }
                    }
                }
                double gmac(double ms) => (double)n * k * t / (ms / 1000) / 1e9;
                output.WriteLine($"{type,-5} N {n,4} K {k,4} T {t,2}: " + string.Join("  ", kinds.Select((kind, i) => $"{kind} {best[i] * 1000,6:F1} us ({gmac(best[i]),5:F1} GMAC/s)")));
            }
    }

    [Fact]
    public void MatMulThroughput()
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        const int n = 49152, k = 576, maxT = 64;
        var rng = new Random(1);
        var row = new float[k];
        var x = (float*)NativeMemory.AlignedAlloc((nuint)(maxT * k * 4), 64);
        var y = (float*)NativeMemory.AlignedAlloc((nuint)(maxT * n * 4), 64);
        for (int i = 0; i < maxT * k; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0 })
        {
            long rowBytes = GgmlTypes.Traits(type).RowBytes(k);
            var w = (byte*)NativeMemory.AlignedAlloc((nuint)(n * rowBytes), 64);
            for (int r = 0; r < n; r++)
            {
                for (int i = 0; i < k; i++) row[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
                Quant.QuantizeRow(type, row, new Span<byte>(w + r * rowBytes, (int)rowBytes));
            }
            var view = new TensorView(w, type, n, k);
            if (type == GgmlType.F32)
            {
                // The ceiling: one thread summing the same bytes (a pure streaming read).
                var all = new ReadOnlySpan<float>(w, n * k);
                double best = double.MaxValue;
                for (int i = 0; i < 8; i++)
                {
                    var s = Stopwatch.StartNew();
                    System.Numerics.Tensors.TensorPrimitives.Sum(all);
                    best = Math.Min(best, s.Elapsed.TotalSeconds);
                }
                output.WriteLine($"read bandwidth (TensorPrimitives.Sum, 1 thread): {view.ByteLength / best / 1e9:F1} GB/s");
            }
            var scratch = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(64, MatMul.ScratchBytes(type, k, maxT)), 64);
            foreach (int threads in new[] { 1, 2 })
            {
                using var pool = new KernelThreadPool(threads);
                foreach (int t in new[] { 1, maxT })
                {
                    // Warm up past tiered compilation, then report the best of several windows: the machine is
                    // shared, and the minimum is the figure least disturbed by other processes.
                    var sw = Stopwatch.StartNew();
                    do MatMul.Forward(pool, y, x, view, t, scratch); while (sw.ElapsedMilliseconds < 400);
                    double ms = double.MaxValue, cpuMs = double.MaxValue;
                    for (int window = 0; window < 5; window++)
                    {
                        int reps = 0;
                        double cpu0 = ThreadCpuSeconds();
                        sw.Restart();
                        do { MatMul.Forward(pool, y, x, view, t, scratch); reps++; } while (sw.ElapsedMilliseconds < 150 || reps < 2);
                        ms = Math.Min(ms, sw.Elapsed.TotalMilliseconds / reps);
                        cpuMs = Math.Min(cpuMs, (ThreadCpuSeconds() - cpu0) * 1000 / reps);
                    }
                    double gbs = view.ByteLength / (ms / 1000) / 1e9;
                    double gflops = 2.0 * n * k * t / (ms / 1000) / 1e9;
                    string cpu = threads == 1 ? $"  | per CPU time: {cpuMs,7:F2} ms/call {view.ByteLength / (cpuMs / 1000) / 1e9,5:F1} GB/s {2.0 * n * k * t / (cpuMs / 1000) / 1e9,6:F1} GFLOP/s" : "";
                    output.WriteLine($"{type,-5} threads {threads} T {t,2}: {ms,8:F2} ms/call {ms / t,7:F3} ms/token  weights {gbs,6:F1} GB/s  {gflops,6:F1} GFLOP/s{cpu}");
                }
            }
            NativeMemory.AlignedFree(scratch);
            NativeMemory.AlignedFree(w);
        }
        NativeMemory.AlignedFree(x);
        NativeMemory.AlignedFree(y);
    }
}
