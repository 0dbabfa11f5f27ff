using System.Diagnostics;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.TestKit;
using Xunit.Abstractions;

namespace RagTune.Engine.Tests.Training;

/// <summary>A real-size shape (SmolLM2-135M, random Q8_0 weights): memory formula, finite loss, step time. Slow.</summary>
public sealed class TrainingScaleTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Slow")]
    public void Smollm2_135m_shape_q8_0_trains_with_recompute_within_the_memory_formula()
    {
        using var model = TransformerModel.Load(TinyModels.Get("smollm2-135m", "q8_0", 1));
        var adapter = new LoraAdapter(model.Config, new LoraConfig(), seed: 1);
        var options = new TrainingOptions(BatchSize: 1, SeqLen: 64, Threads: 2, Recompute: true);
        using var s = new TrainingSession(model, adapter, options);
        Assert.Equal(TrainingSession.EstimateBytes(model.Config, adapter.Config, s.Options), s.AllocatedBytes, (double)s.AllocatedBytes * 0.001);
        int[] inputs = Enumerable.Range(0, 64).Select(i => (i * 7919 + 13) % model.Config.VocabSize).ToArray();
        int[] targets = inputs.Skip(1).Append(-1).ToArray();
        var opt = new AdamW(adapter.Parameters);
        float first = s.ForwardBackward(inputs, targets);
        opt.Step(1e-3f);
        var sw = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        s.ZeroGrad();
        float second = s.ForwardBackward(inputs, targets);
        opt.Step(1e-3f);
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Assert.True(float.IsFinite(first) && float.IsFinite(second));
        output.WriteLine($"smollm2-135m q8_0 B=1 T=64 recompute, LoRA r8 all ({adapter.ParameterCount} params): step {sw.Elapsed.TotalSeconds:F2} s wall, {cpu.TotalSeconds:F2} s CPU; run state {s.AllocatedBytes / 1e6:F1} MB; loss {first:F3} -> {second:F3}");
    }
}
