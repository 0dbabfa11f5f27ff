using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Engine.Training;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Training;

/// <summary>
/// Whole-model gradients against finite differences of the session's own loss, for what the PyTorch golden does not
/// cover: LoRA dropout (the mask is replayed by resetting <see cref="TrainingSession.DropoutStep"/>) and a Qwen2-style
/// model (NeoX RoPE, q/k/v biases) built from the tiny model's weights. The loss is float32, so the differences use a
/// large step (1e-2) and the tolerance is 3% of the gradient plus 3e-4.
/// </summary>
public sealed unsafe class WholeModelGradientTests
{
    [Theory]
    [InlineData(false, 0f)]
    [InlineData(false, 0.2f)]
    [InlineData(true, 0f)]
    [InlineData(true, 0.2f)]
    public void Lora_gradients_match_finite_differences(bool qwen2Style, float dropout)
    {
        using var baseModel = TransformerModel.Load(TinyModels.Get("tiny", "f32", 1));
        var biases = new List<float[]>();
        using var model = qwen2Style ? Qwen2Style(baseModel, biases) : null;
        var m = model ?? baseModel;
        var adapter = new LoraAdapter(m.Config, new LoraConfig(Rank: 2, Alpha: 4, Dropout: dropout), seed: 2);
        LoraGoldenTests.FillFromFormula(adapter);
        int[] inputs = Enumerable.Range(0, 12).Select(i => (i * 41 + 9) % 512).ToArray();
        int[] targets = inputs.Select((x, i) => i == 4 ? -1 : (x * 5 + 3) % 512).ToArray();
        using var s = new TrainingSession(m, adapter, new TrainingOptions(2, 6, Threads: 2, Seed: 11));
        s.DropoutStep = 41;
        s.ForwardBackward(inputs, targets);
        var grads = adapter.Parameters.Select(p => p.Grad.ToArray()).ToArray();

        const float h = 1e-2f;
        var rng = new Random(5);
        for (int check = 0; check < 24; check++)
        {
            int pi = rng.Next(adapter.Parameters.Count);
            var p = adapter.Parameters[pi];
            int j = rng.Next(p.Values.Length);
            float keep = p.Values[j];
            p.Values[j] = keep + h; s.DropoutStep = 41; double up = s.ForwardBackward(inputs, targets);
            p.Values[j] = keep - h; s.DropoutStep = 41; double down = s.ForwardBackward(inputs, targets);
            p.Values[j] = keep;
            double fd = (up - down) / (2 * h);
            Assert.True(Math.Abs(grads[pi][j] - fd) <= 0.03 * Math.Abs(fd) + 3e-4, $"{p.Name}[{j}]: analytic {grads[pi][j]}, finite difference {fd}");
        }
    }

    /// <summary>The tiny llama re-labelled as qwen2: NeoX rotation and random q/k/v biases (pinned arrays in <paramref name="keepAlive"/>).</summary>
    private static TransformerModel Qwen2Style(TransformerModel src, List<float[]> keepAlive)
    {
        var c = src.Config with { Architecture = "qwen2", Rope = RopeMode.NeoX };
        var rng = new Random(3);
        TensorView Bias(int n)
        {
            var a = GC.AllocateArray<float>(n, pinned: true);
            for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() - 0.5);
            keepAlive.Add(a);
            fixed (float* p = a) return new TensorView((byte*)p, GgmlType.F32, 1, n);
        }
        var w = src.Weights;
        var weights = new ModelWeights
        {
            TokenEmbedding = w.TokenEmbedding, OutputNorm = w.OutputNorm, Output = w.Output, TiedOutput = w.TiedOutput,
            Layers = w.Layers.Select(l => new LayerWeights
            {
                AttnNorm = l.AttnNorm, Wq = l.Wq, Wk = l.Wk, Wv = l.Wv, Wo = l.Wo, FfnNorm = l.FfnNorm, Gate = l.Gate, Up = l.Up, Down = l.Down,
                Bq = Bias(c.QDim), Bk = Bias(c.KvDim), Bv = Bias(c.KvDim),
            }).ToArray(),
        };
        return new TransformerModel(src.Path, c, weights, new NoOwner(), gguf: null);
    }

    private sealed class NoOwner : IDisposable
    {
        public void Dispose() { }
    }
}
