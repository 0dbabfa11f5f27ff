using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Training;

/// <summary>LoRA applied beside the base weights at inference (unmerged) against the merged model.</summary>
public sealed class LoraDeltaTests
{
    private static readonly int[] s_tokens = [1, 5, 9, 200, 17, 300, 42, 7, 88, 130, 3];

    [Fact]
    public void Unmerged_logits_equal_merged_logits_on_an_f32_base()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32", 1));
        var adapter = Adapter(model.Config, LoraTargets.All, rank: 4, shift: 0);
        var merged = MergedLogits(model, adapter);
        var unmerged = UnmergedLogits(model, adapter, batch: 4);
        var baseLogits = UnmergedLogits(model, null, batch: 4);
        float err = MaxAbsDiff(merged, unmerged), effect = MaxAbsDiff(baseLogits, merged);
        Assert.True(err <= 1e-4f * MathF.Max(1, MaxAbs(merged)), $"unmerged differs from merged by {err}");
        Assert.True(effect > 100 * err, $"the adapter changes logits by only {effect} (error {err}): the test would not see a missing update");
    }

    [Fact]
    public void Unmerged_logits_on_a_q8_0_base_equal_merged_logits_up_to_the_q8_0_activation_rounding()
    {
        // Merging dequantizes the base into F32, and F32 products keep activations exact; the unmerged path keeps the
        // Q8_0 base and rounds its activations to Q8_0 as every Q8_0 product does. So the budget is the base's own
        // Q8_0-vs-dequantized gap, measured here with an adapter that changes nothing (B = 0).
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "q8_0", 1));
        var zero = new LoraAdapter(model.Config, new LoraConfig(Rank: 4), seed: 1);
        float budget = MaxAbsDiff(MergedLogits(model, zero), UnmergedLogits(model, null, batch: 4));

        var adapter = Adapter(model.Config, LoraTargets.All, rank: 4, shift: 0);
        var merged = MergedLogits(model, adapter);
        var unmerged = UnmergedLogits(model, adapter, batch: 4);
        float err = MaxAbsDiff(merged, unmerged), effect = MaxAbsDiff(UnmergedLogits(model, null, batch: 4), unmerged);
        Assert.True(err <= 2 * budget + 1e-4f, $"unmerged differs from merged by {err}; the base's own Q8_0 rounding gives {budget}");
        Assert.True(effect > 10 * err, $"the adapter changes logits by only {effect} (error {err})");
    }

    [Fact]
    public void Batched_prefill_with_an_adapter_equals_one_token_at_a_time()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "q4_0", 1));
        var adapter = Adapter(model.Config, LoraTargets.Q | LoraTargets.V | LoraTargets.Down, rank: 3, shift: 1);
        var batched = UnmergedLogits(model, adapter, batch: 64);
        var single = UnmergedLogits(model, adapter, batch: 1);
        Assert.True(MaxAbsDiff(batched, single) <= 1e-4f * MathF.Max(1, MaxAbs(batched)), $"batched vs single: {MaxAbsDiff(batched, single)}");
    }

    [Fact]
    public void Switching_adapters_between_sequences_gives_each_adapters_logits_and_forgets_the_cache()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32", 1));
        var first = Adapter(model.Config, LoraTargets.All, rank: 4, shift: 0);
        var second = Adapter(model.Config, LoraTargets.Q | LoraTargets.Up, rank: 8, shift: 2);
        using var d1 = new LoraDelta(first, model.Config);
        using var d2 = new LoraDelta(second, model.Config);
        int v = model.Config.VocabSize;
        using var session = new InferenceSession(model, new SessionOptions(64, BatchSize: 4, Threads: 2));
        var got = new float[s_tokens.Length * v];
        foreach (var (delta, adapter) in new (LoraDelta?, LoraAdapter?)[] { (d1, first), (d2, second), (null, null), (d1, first), (d2, second) })
        {
            session.Forward(s_tokens.AsSpan(0, 3));
            session.Adapter = delta;
            Assert.Equal(0, session.Position);
            session.ForwardAll(s_tokens, got);
            var want = adapter is null ? UnmergedLogits(model, null, batch: 4) : MergedLogits(model, adapter);
            Assert.True(MaxAbsDiff(want, got) <= 1e-4f * MathF.Max(1, MaxAbs(want)), $"adapter {(adapter is null ? "none" : adapter.Config.Targets)}: {MaxAbsDiff(want, got)}");
        }
    }

    [Fact]
    public void An_adapter_for_another_base_is_refused_when_set()
    {
        using var tiny = TransformerModel.Load(TinyModels.Get("tiny", "f32", 1));
        using var other = TransformerModel.Load(SharedData.File("models", "stories260k", "stories260K.gguf"));
        using var delta = new LoraDelta(new LoraAdapter(other.Config, new LoraConfig(Rank: 2)), other.Config);
        using var session = new InferenceSession(tiny, new SessionOptions(16, Threads: 1));
        var e = Assert.Throws<InvalidDataException>(() => session.Adapter = delta);
        Assert.Contains("Adapter for another base", e.Message);
        Assert.Null(session.Adapter);
    }

    internal static LoraAdapter Adapter(ModelConfig config, LoraTargets targets, int rank, int shift)
    {
        var adapter = new LoraAdapter(config, new LoraConfig(Rank: rank, Alpha: 2 * rank, Dropout: 0.1f, Targets: targets), seed: 3);
        for (int k = 0; k < adapter.Parameters.Count; k++)
        {
            var values = adapter.Parameters[k].Values;
            for (int j = 0; j < values.Length; j++) values[j] = (float)(0.1 * Math.Sin(0.37 * j + 1.3 * k + 0.5 + shift));
        }
        return adapter;
    }

    internal static float[] MergedLogits(TransformerModel model, LoraAdapter adapter)
    {
        using var merged = adapter.Merge(model);
        using var session = new InferenceSession(merged, new SessionOptions(64, BatchSize: 4, Threads: 2));
        var logits = new float[s_tokens.Length * model.Config.VocabSize];
        session.ForwardAll(s_tokens, logits);
        return logits;
    }

    internal static float[] UnmergedLogits(TransformerModel model, LoraAdapter? adapter, int batch)
    {
        using var delta = adapter is null ? null : new LoraDelta(adapter, model.Config);
        using var session = new InferenceSession(model, new SessionOptions(64, BatchSize: batch, Threads: 2)) { Adapter = delta };
        var logits = new float[s_tokens.Length * model.Config.VocabSize];
        session.ForwardAll(s_tokens, logits);
        return logits;
    }

    internal static float MaxAbsDiff(float[] a, float[] b)
    {
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = MathF.Max(m, MathF.Abs(a[i] - b[i]));
        return m;
    }

    private static float MaxAbs(float[] a) => a.Max(MathF.Abs);
}
