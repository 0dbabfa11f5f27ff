using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Models;

/// <summary>
/// Several sequences in one session (issue 19): a batched pass that mixes slots, prefill chunks and decode tokens
/// gives every slot the logits it gets alone in a session of its own.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class SlotBatchTests
{
    // Three sequences of different lengths, as three users' prompts.
    private static readonly int[][] s_prompts =
    [
        [1, 17, 300, 42, 511, 260, 3],
        [1, 99, 128],
        [1, 400, 77, 5, 6, 7, 8, 9, 10, 11, 12],
    ];

    // Not q4_0: the batched rows' float sums differ from the single rows' in the last bit, and on tiny q4_0 one
    // such difference moves an activation across a Q8_0 rounding boundary (every matrix product still matches the
    // reference; the plain prefill of 7 + 4 tokens against 1 + 1 + ... shows the same 1e-2 logit step).
    [Theory]
    [InlineData("tiny", "f32")]
    [InlineData("tiny", "q8_0")]
    [InlineData("tiny-canon", "f32")]
    public void A_batch_of_slots_gives_each_slot_the_logits_it_gets_alone(string preset, string type)
    {
        using var model = TransformerModel.Load(TinyModels.Get(preset, type));
        int v = model.Config.VocabSize;
        // Alone: each prompt, then 6 decode tokens (fixed ids, so the comparison does not depend on sampling).
        var expected = new List<float[]>[3];
        for (int s = 0; s < 3; s++)
        {
            using var alone = new InferenceSession(model, new SessionOptions(64, BatchSize: 8, Threads: 2));
            expected[s] = [];
            alone.Forward(s_prompts[s]);
            expected[s].Add(alone.Logits.ToArray());
            for (int i = 0; i < 6; i++)
            {
                alone.Forward([DecodeToken(s, i)]);
                expected[s].Add(alone.Logits.ToArray());
            }
        }

        using var shared = new InferenceSession(model, new SessionOptions(64, BatchSize: 8, Threads: 2, Slots: 3));
        // Step 1: slot 0's whole prompt and slot 1's whole prompt in one pass (7 + 3 > 8: slot 1 gets a first chunk of 1).
        shared.Forward([new SlotTokens(0, 7), new SlotTokens(1, 1)], [.. s_prompts[0], s_prompts[1][0]]);
        AssertClose(expected[0][0], shared.LogitsOf(0), "slot 0 after its prompt");
        // Step 2: slot 0 decodes, slot 1 finishes its prompt, slot 2 starts its prompt (chunked prefill beside decoding).
        shared.Forward([new SlotTokens(1, 2), new SlotTokens(0, 1), new SlotTokens(2, 5)], [s_prompts[1][1], s_prompts[1][2], DecodeToken(0, 0), .. s_prompts[2][..5]]);
        AssertClose(expected[0][1], shared.LogitsOf(0), "slot 0, decode 0");
        AssertClose(expected[1][0], shared.LogitsOf(1), "slot 1 after its prompt");
        // Step 3: the rest of slot 2's prompt beside two decodes.
        shared.Forward([new SlotTokens(2, 6), new SlotTokens(0, 1), new SlotTokens(1, 1)], [.. s_prompts[2][5..], DecodeToken(0, 1), DecodeToken(1, 0)]);
        AssertClose(expected[2][0], shared.LogitsOf(2), "slot 2 after its prompt");
        AssertClose(expected[0][2], shared.LogitsOf(0), "slot 0, decode 1");
        AssertClose(expected[1][1], shared.LogitsOf(1), "slot 1, decode 0");
        // Then every slot decodes in each step; slot 1 leaves after its third token, the others go on.
        int[] done = [2, 1, 0];
        for (int step = 0; step < 4; step++)
        {
            var slots = Enumerable.Range(0, 3).Where(s => done[s] < 6 && !(s == 1 && done[s] >= 3)).ToArray();
            shared.Forward([.. slots.Select(s => new SlotTokens(s, 1))], [.. slots.Select(s => DecodeToken(s, done[s]))]);
            foreach (var s in slots)
            {
                done[s]++;
                AssertClose(expected[s][done[s]], shared.LogitsOf(s), $"slot {s}, decode {done[s] - 1}");
            }
        }
        Assert.Equal((7 + 6, 3 + 3, 11 + 4), (shared.PositionOf(0), shared.PositionOf(1), shared.PositionOf(2)));

        // A slot truncated and refilled starts a new sequence without touching the others.
        shared.Truncate(1, 0);
        shared.Forward([new SlotTokens(1, 3), new SlotTokens(2, 1)], [.. s_prompts[1], DecodeToken(2, 4)]);
        AssertClose(expected[1][0], shared.LogitsOf(1), "slot 1 refilled");
        AssertClose(expected[2][5], shared.LogitsOf(2), "slot 2, decode 4");
    }

    [Fact]
    public void A_batch_with_an_adapter_applies_it_to_every_slot()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "q8_0"));
        var adapter = new LoraAdapter(model.Config, new LoraConfig(Rank: 4), seed: 3);
        foreach (var p in adapter.Parameters) Array.Fill(p.Values, 0.01f); // B is zero at init; make the delta visible
        using var delta = new LoraDelta(adapter, model.Config);
        var expected = new float[2][];
        for (int s = 0; s < 2; s++)
        {
            using var alone = new InferenceSession(model, new SessionOptions(64, Threads: 2)) { Adapter = delta };
            alone.Forward(s_prompts[s]);
            expected[s] = alone.Logits.ToArray();
        }
        using var shared = new InferenceSession(model, new SessionOptions(64, Threads: 2, Slots: 2)) { Adapter = delta };
        shared.Forward([new SlotTokens(0, 7), new SlotTokens(1, 3)], [.. s_prompts[0], .. s_prompts[1]]);
        AssertClose(expected[0], shared.LogitsOf(0), "slot 0");
        AssertClose(expected[1], shared.LogitsOf(1), "slot 1");
    }

    [Fact]
    public void Bad_batches_are_refused_naming_what_is_wrong()
    {
        using var model = TransformerModel.Load(TinyModels.Get("tiny", "f32"));
        using var shared = new InferenceSession(model, new SessionOptions(16, BatchSize: 4, Threads: 1, Slots: 2));
        Assert.Contains("appears twice", Assert.Throws<ArgumentException>(() => shared.Forward([new SlotTokens(0, 1), new SlotTokens(0, 1)], [1, 2])).Message);
        Assert.Contains("Slot must be between 0 and 1", Assert.Throws<ArgumentOutOfRangeException>(() => shared.Forward([new SlotTokens(2, 1)], [1])).Message);
        Assert.Contains("batch size is 4", Assert.Throws<ArgumentException>(() => shared.Forward([new SlotTokens(0, 3), new SlotTokens(1, 2)], [1, 2, 3, 4, 5])).Message);
        Assert.Contains("segments hold 1 tokens but 2", Assert.Throws<ArgumentException>(() => shared.Forward([new SlotTokens(0, 1)], [1, 2])).Message);
        shared.Forward([new SlotTokens(1, 4)], [1, 2, 3, 4]);
        for (int i = 0; i < 3; i++) shared.Forward([new SlotTokens(1, 4)], [1, 2, 3, 4]);
        Assert.Throws<ContextOverflowException>(() => shared.Forward([new SlotTokens(0, 1), new SlotTokens(1, 1)], [1, 2]));
        Assert.Equal((0, 16), (shared.PositionOf(0), shared.PositionOf(1))); // the refused batch changed nothing
        Assert.Contains("Slots must be between 1 and the batch size (4)",
            Assert.Throws<ArgumentOutOfRangeException>(() => new SessionOptions(16, BatchSize: 4, Slots: 5).Resolve(model.Config)).Message);
    }

    private static int DecodeToken(int slot, int i) => 20 + 37 * slot + 11 * i;

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + MathF.Abs(expected[i])), $"{where}, logit {i}: alone {expected[i]} vs batched {actual[i]}");
    }
}
