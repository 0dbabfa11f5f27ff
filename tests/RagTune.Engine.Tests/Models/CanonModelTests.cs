using RagTune.Engine.Models;
using RagTune.Engine.Tests.Training;
using RagTune.Engine.Training;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Models;

/// <summary>
/// A llama with a canon layer before each attention (the demo model's architecture): inference with its per-position
/// history, training forward and LoRA over it agree with each other, and the layer changes what the model computes.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class CanonModelTests
{
    private static readonly int[] s_tokens = [1, 17, 300, 42, 511, 260, 3, 99, 128, 400, 77, 5];

    [Theory]
    [InlineData("f32")]
    [InlineData("q8_0")]
    public void Batched_prefill_equals_one_token_at_a_time_and_a_rewind_replays_the_same_logits(string type)
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny-canon", type));
        Assert.Equal(4, model.Config.CanonKernel);
        int v = model.Config.VocabSize;
        using var batched = new InferenceSession(model, new SessionOptions(64, BatchSize: 5, Threads: 2));
        var all = new float[s_tokens.Length * v];
        batched.ForwardAll(s_tokens, all);

        using var single = new InferenceSession(model, new SessionOptions(64, BatchSize: 1, Threads: 1));
        for (int t = 0; t < s_tokens.Length; t++)
        {
            single.Forward([s_tokens[t]]);
            AssertClose(all.AsSpan(t * v, v), single.Logits, $"position {t}");
        }
        // Rewinding keeps the earlier positions' canon history: the same suffix gives the same logits.
        single.Truncate(7);
        single.Forward(s_tokens.AsSpan(7));
        AssertClose(all.AsSpan((s_tokens.Length - 1) * v, v), single.Logits, "after a rewind to 7");
    }

    [Fact]
    public void Training_forward_equals_inference_with_and_without_an_adapter()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny-canon", "f32"));
        int v = model.Config.VocabSize, t = s_tokens.Length;
        var adapter = LoraDeltaTests.Adapter(model.Config, LoraTargets.All, rank: 4, shift: 0);
        foreach (var a in new[] { null, adapter })
        {
            using var delta = a is null ? null : new LoraDelta(a, model.Config);
            using var infer = new InferenceSession(model, new SessionOptions(64, BatchSize: 4, Threads: 2)) { Adapter = delta };
            var want = new float[t * v];
            infer.ForwardAll(s_tokens, want);
            using var train = a is null
                ? new TrainingSession(new FullModelParameters(model), new TrainingOptions(2, t, Threads: 2))
                : new TrainingSession(model, a, new TrainingOptions(2, t, Threads: 2));
            var got = new float[2 * t * v];
            train.Forward([.. s_tokens, .. s_tokens], got);
            AssertClose(want, got.AsSpan(0, t * v), a is null ? "base" : "adapter");
            AssertClose(want, got.AsSpan(t * v, t * v), "second sequence (no history from the first)");
        }
    }

    [Fact]
    public void The_canon_layer_changes_the_logits_and_lora_gradients_match_finite_differences()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny-canon", "f32"));
        var full = new FullModelParameters(model);
        int v = model.Config.VocabSize, t = s_tokens.Length;
        using (var infer = new InferenceSession(full.Model, new SessionOptions(64, Threads: 2)))
        {
            infer.Forward(s_tokens);
            var with = infer.Logits.ToArray();
            foreach (var p in full.Parameters.Where(p => p.Name.EndsWith("attn_canon.weight", StringComparison.Ordinal))) Array.Clear(p.Values);
            infer.Reset();
            infer.Forward(s_tokens);
            Assert.True(LoraDeltaTests.MaxAbsDiff(with, infer.Logits.ToArray()) > 1e-2f, "zeroing the canon weights changed nothing");
        }

        var adapter = new LoraAdapter(model.Config, new LoraConfig(Rank: 2, Alpha: 4, Dropout: 0f), seed: 9);
        foreach (var p in adapter.Parameters)
            for (int j = 0; j < p.Values.Length; j++) p.Values[j] = 0.05f * MathF.Sin(0.7f * j + p.Values.Length);
        int[] targets = s_tokens.Select((x, i) => i == 3 ? -1 : (x * 7 + 1) % v).ToArray();
        using var s = new TrainingSession(model, adapter, new TrainingOptions(1, t, Threads: 2));
        s.ForwardBackward(s_tokens, targets);
        var rng = new Random(3);
        const float h = 1e-2f;
        foreach (var p in adapter.Parameters.Where((_, i) => i % 3 == 0))
        {
            int j = rng.Next(p.Values.Length);
            float keep = p.Values[j], g = p.Grad[j];
            p.Values[j] = keep + h; double up = s.Loss(s_tokens, targets);
            p.Values[j] = keep - h; double down = s.Loss(s_tokens, targets);
            p.Values[j] = keep;
            double fd = (up - down) / (2 * h);
            Assert.True(Math.Abs(g - fd) <= 0.03 * Math.Abs(fd) + 3e-4, $"{p.Name}[{j}]: analytic {g}, finite difference {fd}");
        }
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + MathF.Abs(expected[i])), $"{what}, logit {i}: {expected[i]} vs {actual[i]}");
    }
}
