using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Models;

[Collection(SerialCollection.Name)]
public sealed class InferenceSessionTests
{
    private static readonly int[] s_tokens = [1, 17, 300, 42, 511, 260, 3, 99, 128, 400, 77];

    [Theory]
    [InlineData("f32")]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void Batched_prefill_equals_one_token_at_a_time(string type)
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", type));
        int v = model.Config.VocabSize;
        using var batched = new InferenceSession(model, new SessionOptions(64, BatchSize: 4, Threads: 2));
        var all = new float[s_tokens.Length * v];
        batched.ForwardAll(s_tokens, all);

        using var single = new InferenceSession(model, new SessionOptions(64, BatchSize: 1, Threads: 1));
        for (int t = 0; t < s_tokens.Length; t++)
        {
            single.Forward([s_tokens[t]]);
            var expected = all.AsSpan(t * v, v);
            for (int i = 0; i < v; i++)
                Assert.True(MathF.Abs(expected[i] - single.Logits[i]) <= 1e-4f * (1 + MathF.Abs(expected[i])),
                    $"position {t}, logit {i}: batched {expected[i]} vs single {single.Logits[i]}");
        }
        Assert.Equal(all.AsSpan((s_tokens.Length - 1) * v, v).ToArray(), batched.Logits.ToArray());
    }

    [Fact]
    public void Decoding_a_token_allocates_nothing()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "q8_0"));
        using var session = new InferenceSession(model, new SessionOptions(128, Threads: 2));
        var one = new int[1];
        session.Forward(s_tokens);
        for (int i = 0; i < 20; i++) { one[0] = 5 + i; session.Forward(one); } // warm-up: JIT, thread start
        // The calling thread's own counter plus the workers' (process-wide totals include the test host's
        // background allocations); the best of several rounds rules out one-off runtime work such as tiering.
        long best = long.MaxValue;
        for (int round = 0; round < 5 && best > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread() + session.WorkerAllocatedBytes;
            for (int i = 0; i < 20; i++) { one[0] = 100 + i; session.Forward(one); }
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() + session.WorkerAllocatedBytes - before);
        }
        Assert.Equal(0, best);
    }

    [Fact]
    public void Decoding_a_token_with_an_unmerged_adapter_allocates_nothing()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "q8_0"));
        var adapter = new LoraAdapter(model.Config, new LoraConfig(Rank: 8), seed: 1);
        foreach (var p in adapter.Parameters) Array.Fill(p.Values, 0.01f);
        using var delta = new LoraDelta(adapter, model.Config);
        using var session = new InferenceSession(model, new SessionOptions(128, Threads: 2)) { Adapter = delta };
        var one = new int[1];
        session.Forward(s_tokens);
        for (int i = 0; i < 20; i++) { one[0] = 5 + i; session.Forward(one); }
        long best = long.MaxValue;
        for (int round = 0; round < 5 && best > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread() + session.WorkerAllocatedBytes;
            for (int i = 0; i < 20; i++) { one[0] = 100 + i; session.Forward(one); }
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() + session.WorkerAllocatedBytes - before);
        }
        Assert.Equal(0, best);
    }

    [Fact]
    public void Truncate_rewinds_so_a_sequence_replays_identically()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32"));
        using var session = new InferenceSession(model, new SessionOptions(64, Threads: 1));
        session.Forward(s_tokens);
        var first = session.Logits.ToArray();
        session.Truncate(3);
        session.Forward(s_tokens.AsSpan(3));
        // Batch shapes change the kernels' summation order (tiles vs single rows), so equal up to rounding.
        var replay = session.Logits.ToArray();
        for (int i = 0; i < first.Length; i++)
            Assert.True(MathF.Abs(first[i] - replay[i]) <= 1e-4f * (1 + MathF.Abs(first[i])), $"logit {i}: {first[i]} vs {replay[i]}");
        session.Reset();
        Assert.Equal(0, session.Position);
    }

    [Fact]
    public void A_sequence_longer_than_the_context_is_refused_with_advice()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32"));
        using var session = new InferenceSession(model, new SessionOptions(8, Threads: 1));
        var e = Assert.Throws<ContextOverflowException>(() => session.Forward(s_tokens));
        Assert.Contains("context holds 8", e.Message);
        Assert.Contains("Shorten the prompt", e.Message);
        Assert.Equal(0, session.Position);
    }

    [Fact]
    public void Token_ids_outside_the_vocabulary_are_refused()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32"));
        using var session = new InferenceSession(model, new SessionOptions(8, Threads: 1));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward([1, 512]));
        Assert.Contains("outside the vocabulary", e.Message);
    }

    [Fact]
    public void Options_are_validated()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new InferenceSession(model, new SessionOptions(BatchSize: 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new InferenceSession(model, new SessionOptions(ContextSize: -1)));
        using var s = new InferenceSession(model, new SessionOptions());
        Assert.Equal(256, s.Options.ContextSize);
        Assert.Equal(Environment.ProcessorCount, s.Options.Threads);
    }
}
