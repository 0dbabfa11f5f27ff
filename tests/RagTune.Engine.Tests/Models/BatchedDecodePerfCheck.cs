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

    // One decode step's matrix products at SmolLM2-135M's shapes with distinct weights per layer (so they stream from
    // memory, as in the model): q, k, v, o, gate, up, down for 30 layers and the output projection, per batch size,
    // with the direct int8 tiles forced (QuantTiles.Int8Direct; one token still runs the decode rows) and with what
    // ran before them (the decode rows below 4 tokens, packed panels from 4), alternated window by window.
    [Theory]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void MatMulPerBatchSize(string typeName)
    {
        if (Environment.GetEnvironmentVariable("RAGTUNE_PERF") != "1") return;
        var type = GgmlTypes.Parse(typeName);
        (int N, int K)[] layer = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576), (576, 1536)];
        const int layers = 30, maxT = 8;
        var rng = new Random(5);
        using var pool = new KernelThreadPool(2);
        var x = (float*)NativeMemory.AlignedAlloc(maxT * 1536 * 4, 64);
        var y = (float*)NativeMemory.AlignedAlloc((nuint)maxT * 49152 * 4, 64);
        for (int i = 0; i < maxT * 1536; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var scratch = (byte*)NativeMemory.AlignedAlloc((nuint)MatMul.ScratchBytes(type, 1536, maxT), 64);
        var views = new List<TensorView>();
        var row = new float[1536];
        var shapes = Enumerable.Range(0, layers).SelectMany(_ => layer).Append((49152, 576));
        foreach (var (n, k) in shapes)
        {
            long rowBytes = GgmlTypes.Traits(type).RowBytes(k);
            var w = (byte*)NativeMemory.AlignedAlloc((nuint)(n * rowBytes), 64);
            for (int i = 0; i < k; i++) row[i] = (float)(rng.NextDouble() * 2 - 1);
            for (int r = 0; r < n; r++)
            {
                row[r % k] = (float)(rng.NextDouble() * 2 - 1);
                Quant.QuantizeRow(type, row.AsSpan(0, k), new Span<byte>(w + r * rowBytes, (int)rowBytes));
            }
            views.Add(new TensorView(w, type, n, k));
        }
        var kinds = new[] { MatMul.QuantTiles.Int8Direct, MatMul.QuantTiles.Int8Panel };
        int[] sizes = [1, 2, 3, 4, 5, 6, 8];
        var warm = Stopwatch.StartNew();   // every path past tiered compilation before anything is timed
        while (warm.ElapsedMilliseconds < 3000)
            foreach (int t in sizes)
                foreach (var kind in kinds) MatMul.ForwardWithTiles(pool, y, x, views[^1], t, scratch, kind);
        foreach (int t in sizes)
        {
            var best = new[] { double.MaxValue, double.MaxValue };
            for (int window = 0; window < 10; window++)
            {
                int kind = window & 1;
                var sw = Stopwatch.StartNew();
                foreach (var view in views) MatMul.ForwardWithTiles(pool, y, x, view, t, scratch, kinds[kind]);
                best[kind] = Math.Min(best[kind], sw.Elapsed.TotalMilliseconds);
            }
            output.WriteLine($"{typeName} T {t}: matrix products of a step, direct {best[0]:F2} ms, panels {best[1]:F2} ms ({t * 1000 / best[0]:F0} / {t * 1000 / best[1]:F0} tokens/s)");
        }
    }
}
