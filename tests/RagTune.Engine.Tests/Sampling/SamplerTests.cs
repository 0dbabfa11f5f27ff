using RagTune.TestKit;
using RagTune.Engine.Sampling;

namespace RagTune.Engine.Tests.Sampling;

[Collection(SerialCollection.Name)]
public sealed class SamplerTests
{
    private static float[] Logits(params float[] x) => x;

    [Fact]
    public void Greedy_picks_the_argmax()
    {
        var s = new Sampler(5, SamplerOptions.Greedy);
        Assert.Equal(3, s.Sample(Logits(0.1f, 2f, -1f, 2.5f, 0f)));
    }

    [Fact]
    public void The_same_seed_gives_the_same_tokens_and_another_seed_differs()
    {
        var logits = Enumerable.Range(0, 100).Select(i => MathF.Sin(i) * 2).ToArray();
        var options = new SamplerOptions(Temperature: 1.5f, TopK: 0, TopP: 1f, MinP: 0f, Seed: 42);
        int[] Draw(SamplerOptions o) { var s = new Sampler(100, o); return Enumerable.Range(0, 50).Select(_ => s.Sample(logits)).ToArray(); }
        Assert.Equal(Draw(options), Draw(options));
        Assert.NotEqual(Draw(options), Draw(options with { Seed = 43 }));
    }

    [Fact]
    public void Sampling_follows_the_softmax_distribution()
    {
        // p = softmax([ln 1, ln 2, ln 3, ln 4]) = [0.1, 0.2, 0.3, 0.4]
        var logits = Logits(0f, MathF.Log(2), MathF.Log(3), MathF.Log(4));
        var s = new Sampler(4, new SamplerOptions(Temperature: 1f, TopK: 0, TopP: 1f, MinP: 0f, Seed: 7));
        var counts = new int[4];
        const int n = 40_000;
        for (int i = 0; i < n; i++) counts[s.Sample(logits)]++;
        for (int i = 0; i < 4; i++)
            Assert.InRange(counts[i] / (double)n, 0.1 * (i + 1) - 0.01, 0.1 * (i + 1) + 0.01);
    }

    [Fact]
    public void Top_k_top_p_and_min_p_cut_the_tail()
    {
        var logits = Logits(0f, MathF.Log(2), MathF.Log(3), MathF.Log(4)); // p = .1 .2 .3 .4
        int[] Seen(SamplerOptions o)
        {
            var s = new Sampler(4, o);
            var seen = new HashSet<int>();
            for (int i = 0; i < 5000; i++) seen.Add(s.Sample(logits));
            return seen.Order().ToArray();
        }
        var any = new SamplerOptions(Temperature: 1f, TopK: 0, TopP: 1f, MinP: 0f, Seed: 3);
        Assert.Equal([0, 1, 2, 3], Seen(any));
        Assert.Equal([2, 3], Seen(any with { TopK = 2 }));
        Assert.Equal([2, 3], Seen(any with { TopP = 0.65f }));     // .4 + .3 passes .65
        Assert.Equal([1, 2, 3], Seen(any with { TopP = 0.75f }));
        Assert.Equal([2, 3], Seen(any with { MinP = 0.7f }));      // keep p >= .28
    }

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits()
    {
        var s = new Sampler(3, SamplerOptions.Greedy with { RepeatPenalty = 2f });
        s.Accept(0);
        s.Accept(0);
        // token 0: 3 -> 1.5 (penalised once even though seen twice), so token 1 (2.0) wins.
        Assert.Equal(1, s.Sample(Logits(3f, 2f, -1f)));
        s.Accept(1);
        // token 1: 2 -> 1; token 0: 1.5; token 2 untouched at -1.
        Assert.Equal(0, s.Sample(Logits(3f, 2f, -1f)));
    }

    [Theory]
    [InlineData(-1f, 0, 1f, 0f, 1f)]
    [InlineData(1f, -1, 1f, 0f, 1f)]
    [InlineData(1f, 0, 0f, 0f, 1f)]
    [InlineData(1f, 0, 1.5f, 0f, 1f)]
    [InlineData(1f, 0, 1f, 1f, 1f)]
    [InlineData(1f, 0, 1f, 0f, 0f)]
    [InlineData(float.NaN, 0, 1f, 0f, 1f)]
    public void Bad_options_are_rejected_with_the_field_named(float t, int k, float p, float minP, float rep)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(4, new SamplerOptions(t, k, p, minP, rep)));
        Assert.False(string.IsNullOrEmpty(e.ParamName));
    }

    [Fact]
    public void Sampling_allocates_nothing()
    {
        var logits = Enumerable.Range(0, 4096).Select(i => MathF.Cos(i * 0.37f) * 3).ToArray();
        var s = new Sampler(4096, new SamplerOptions(Temperature: 0.9f, TopK: 40, TopP: 0.9f, MinP: 0.01f, RepeatPenalty: 1.1f, Seed: 1));
        for (int i = 0; i < 10; i++) s.Accept(s.Sample(logits));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) s.Accept(s.Sample(logits));
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
