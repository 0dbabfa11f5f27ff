using System.Diagnostics;
using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;
using RagTune.TestKit;
using Xunit.Abstractions;

namespace RagTune.Engine.Tests.Models;

/// <summary>
/// Hand-run check of what a batched decode step costs (issue 19): one token for each of 1, 2, 3, 4 and 8 slots of a
/// random SmolLM2-135M, 2 threads, and the tokens/s that gives. Not a timed assertion: it only prints. Run with
/// <c>RAGTUNE_PERF=1 dotnet test tests/RagTune.Engine.Tests -c Release --filter FullyQualifiedName~BatchedDecodePerfCheck --logger "console;verbosity=detailed"</c>
/// on a quiet machine.
/// </summary>
[Trait("Category", "Perf")]
[Collection(SerialCollection.Name)]
public sealed unsafe class BatchedDecodePerfCheck(ITestOutputHelper output)
{
    [Theory]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void DecodeStepPerBatchSize(string type)
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        using var model = TransformerModel.Load(TinyModels.Get("smollm2-135m", type));
        using var session = new InferenceSession(model, new SessionOptions(512, BatchSize: 8, Threads: 2, Slots: 8));
        double single = 0;
        foreach (int slots in new[] { 1, 2, 3, 4, 8 })
        {
            var segments = Enumerable.Range(0, slots).Select(s => new SlotTokens(s, 1)).ToArray();
            var tokens = Enumerable.Range(0, slots).Select(s => 100 + s).ToArray();
            double best = double.MaxValue;
            for (int window = 0; window < 6; window++)
            {
                session.Reset();
                // 32 positions of cache first, as a short prompt leaves; then time 32 steps.
                for (int i = 0; i < 32; i++) session.Forward(segments, tokens);
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < 32; i++) session.Forward(segments, tokens);
                best = Math.Min(best, sw.Elapsed.TotalMilliseconds / 32);
            }
            double tps = slots * 1000 / best;
            if (slots == 1) single = tps;
            output.WriteLine($"{type} slots {slots}: {best:F2} ms per step, {tps:F0} tokens/s ({tps / single:F2}x one slot)");
        }
    }

    // One decode step's matrix products at SmolLM2-135M's shapes (q, k, v, o, gate, up, down per layer; the output
    // projection once), per batch size: how much of the step they are, and how they scale with the batch.
    [Theory]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void MatMulPerBatchSize(string typeName)
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        var type = GgmlTypes.Parse(typeName);
        (int N, int K, int PerStep)[] shapes = [(576, 576, 60), (192, 576, 60), (1536, 576, 60), (576, 1536, 30), (49152, 576, 1)];
        const int maxT = 8;
        var rng = new Random(5);
        using var pool = new KernelThreadPool(2);
        var x = (float*)NativeMemory.AlignedAlloc(maxT * 1536 * 4, 64);
        var y = (float*)NativeMemory.AlignedAlloc((nuint)maxT * 49152 * 4, 64);
        for (int i = 0; i < maxT * 1536; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var scratch = (byte*)NativeMemory.AlignedAlloc((nuint)MatMul.ScratchBytes(type, 1536, maxT), 64);
        var views = new List<(TensorView View, int PerStep)>();
        foreach (var (n, k, perStep) in shapes)
        {
            long rowBytes = GgmlTypes.Traits(type).RowBytes(k);
            // Distinct weights per layer would not fit in cache either; one copy per 30 layers' worth keeps it honest.
            var w = (byte*)NativeMemory.AlignedAlloc((nuint)(n * rowBytes), 64);
            var row = new float[k];
            for (int r = 0; r < n; r++)
            {
                for (int i = 0; i < k; i++) row[i] = (float)(rng.NextDouble() * 2 - 1);
                Quant.QuantizeRow(type, row, new Span<byte>(w + r * rowBytes, (int)rowBytes));
            }
            views.Add((new TensorView(w, type, n, k), perStep));
        }
        foreach (int t in new[] { 1, 2, 3, 4, 8 })
        {
            var parts = new List<string>();
            double step = 0;
            foreach (var (view, perStep) in views)
            {
                var sw = Stopwatch.StartNew();
                do MatMul.Forward(pool, y, x, view, t, scratch); while (sw.ElapsedMilliseconds < 100);
                double best = double.MaxValue;
                for (int window = 0; window < 5; window++)
                {
                    int reps = 0;
                    sw.Restart();
                    do { MatMul.Forward(pool, y, x, view, t, scratch); reps++; } while (sw.ElapsedMilliseconds < 60);
                    best = Math.Min(best, sw.Elapsed.TotalMilliseconds / reps);
                }
                step += best * perStep;
                parts.Add($"{view.Rows}x{view.Cols} {best * 1000:F0} us");
            }
            output.WriteLine($"{typeName} T {t}: matrix products {step:F2} ms per step ({string.Join(", ", parts)})");
        }
    }
}
