using System.Security.Cryptography;
using System.Text.Json;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.TestKit;
using Xunit.Abstractions;

namespace RagTune.Engine.Tests.Training;

/// <summary>
/// Full fine-tuning: gradients of every weight against finite differences of the session's own loss and against the
/// float64 PyTorch reference (<c>dev/reference/training/full_golden.py</c> → <c>golden/full_tiny.json</c>), one AdamW
/// step, and learning on stories260K.
/// </summary>
public sealed class FullFineTuningTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models => new() { "tiny", "tiny-qwen2", "tiny-canon", "stories260k" };

    private static string PathOf(string model) => model == "stories260k"
        ? SharedData.File("models", "stories260k", "stories260K.gguf") // untied output
        : TinyModels.Get(model, "f32", 1);                               // tied output; tiny-qwen2 has q/k/v biases

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_parameter_gradient_matches_finite_differences(string model)
    {
        using var baseModel = TransformerModel.Load(PathOf(model));
        var full = new FullModelParameters(baseModel);
        int[] inputs = Enumerable.Range(0, 12).Select(i => (i * 41 + 9) % 512).ToArray();
        int[] targets = inputs.Select((x, i) => i == 4 ? -1 : (x * 5 + 3) % 512).ToArray();
        using var s = new TrainingSession(full, new TrainingOptions(2, 6, Threads: 2));
        s.ForwardBackward(inputs, targets);
        var grads = full.Parameters.Select(p => p.Grad.ToArray()).ToArray();
        Assert.Contains(full.Parameters, p => p.Name == "output.weight" == (model == "stories260k"));
        Assert.Equal(model == "tiny-qwen2", full.Find("blk.0.attn_q.bias") != null);
        Assert.Equal(model == "tiny-canon", full.Find("blk.1.attn_canon.weight") != null);

        const float h = 1e-2f;
        var rng = new Random(5);
        for (int pi = 0; pi < full.Parameters.Count; pi++)
        {
            var p = full.Parameters[pi];
            for (int check = 0; check < 2; check++)
            {
                // Embedding rows of tokens that are not in the batch have no gradient; probe a row that is.
                int j = p.Name == "token_embd.weight" ? inputs[rng.Next(inputs.Length)] * p.Shape[1] + rng.Next(p.Shape[1]) : rng.Next(p.Values.Length);
                float keep = p.Values[j];
                p.Values[j] = keep + h; double up = s.Loss(inputs, targets);
                p.Values[j] = keep - h; double down = s.Loss(inputs, targets);
                p.Values[j] = keep;
                double fd = (up - down) / (2 * h);
                Assert.True(Math.Abs(grads[pi][j] - fd) <= 0.03 * Math.Abs(fd) + 3e-4, $"{p.Name}[{j}]: analytic {grads[pi][j]}, finite difference {fd}");
            }
        }
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("tiny-qwen2")]
    public void Gradients_and_one_AdamW_step_match_the_pytorch_reference(string preset)
    {
        var golden = Golden.Load("full_tiny.json");
        var run = golden.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("file").GetString() == $"{preset}-f32-1.gguf");
        var path = TinyModels.Get(preset, "f32", seed: 1);
        Assert.Equal(run.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant());
        int[] tokens = Ints(golden.GetProperty("tokens")), tgts = Ints(golden.GetProperty("targets"));
        using var baseModel = TransformerModel.Load(path);
        var full = new FullModelParameters(baseModel);
        using var session = new TrainingSession(full, new TrainingOptions(golden.GetProperty("batch").GetInt32(), golden.GetProperty("seq_len").GetInt32(), Threads: 2));
        float loss = session.ForwardBackward(tokens, tgts);
        Assert.True(Math.Abs(loss - run.GetProperty("loss").GetDouble()) < 1e-4, $"loss {loss}, reference {run.GetProperty("loss").GetDouble()}");

        var expected = run.GetProperty("params").EnumerateArray().ToArray();
        Assert.Equal(expected.Select(e => e.GetProperty("name").GetString()), full.Parameters.Select(p => p.Name));
        for (int i = 0; i < expected.Length; i++)
        {
            var p = full.Parameters[i];
            double sumSq = p.Grad.Sum(g => (double)g * g), want = expected[i].GetProperty("grad_sum_sq").GetDouble();
            Assert.True(Math.Abs(sumSq - want) <= 2e-3 * want + 1e-12, $"{p.Name}: Σg² {sumSq}, reference {want}");
            var index = Ints(expected[i].GetProperty("index"));
            var g = Golden.Floats(expected[i].GetProperty("grad"));
            float scale = MathF.Sqrt((float)want / p.Grad.Length) * 4;
            for (int k = 0; k < index.Length; k++)
                Assert.True(MathF.Abs(p.Grad[index[k]] - g[k]) <= 2e-3f * scale + 1e-7f, $"{p.Name}[{index[k]}]: grad {p.Grad[index[k]]}, reference {g[k]}");
        }

        float lr = run.GetProperty("lr").GetSingle();
        new AdamW(full.Parameters, weightDecay: run.GetProperty("weight_decay").GetSingle()).Step(lr);
        for (int i = 0; i < expected.Length; i++)
        {
            var p = full.Parameters[i];
            var index = Ints(expected[i].GetProperty("index"));
            var g = Golden.Floats(expected[i].GetProperty("grad"));
            var after = Golden.Floats(expected[i].GetProperty("after_step"));
            float rms = MathF.Sqrt((float)(expected[i].GetProperty("grad_sum_sq").GetDouble() / p.Grad.Length));
            for (int k = 0; k < index.Length; k++)
            {
                // The first Adam step moves each value by ≈ lr·sign(g): exact wherever g is clearly above the float error.
                float tol = MathF.Abs(g[k]) > 1e-2f * rms ? 2e-6f + 1e-6f * MathF.Abs(after[k]) : 2 * lr;
                Assert.True(MathF.Abs(p.Values[index[k]] - after[k]) <= tol, $"{p.Name}[{index[k]}] after AdamW: {p.Values[index[k]]}, reference {after[k]}");
            }
        }
    }

    [Fact]
    public void A_quantized_base_is_refused_with_the_tensor_named()
    {
        using var q8 = TransformerModel.Load(TinyModels.Get("tiny", "q8_0", 1));
        var e = Assert.Throws<NotSupportedException>(() => new FullModelParameters(q8));
        Assert.Contains("q8_0", e.Message);
        Assert.Contains("--type f32", e.Message);
    }

    [Fact]
    public void Full_fine_tuning_on_stories260k_learns_three_sentences_and_the_saved_model_recites_one()
    {
        var path = SharedData.File("models", "stories260k", "stories260K.gguf");
        var seqs = LoraTrainingTests.Sentences.Select(LoraTrainingTests.Tokenize).ToArray();
        int seq = seqs.Max(s => s.Length) - 1;
        int[] inputs = new int[seqs.Length * seq], targets = new int[seqs.Length * seq];
        Array.Fill(targets, -1);
        for (int b = 0; b < seqs.Length; b++)
            for (int t = 0; t < seqs[b].Length - 1; t++)
            {
                inputs[b * seq + t] = seqs[b][t];
                targets[b * seq + t] = seqs[b][t + 1];
            }

        using var baseModel = TransformerModel.Load(path);
        var full = new FullModelParameters(baseModel);
        using var session = new TrainingSession(full, new TrainingOptions(seqs.Length, seq, Threads: 2));
        var opt = new AdamW(full.Parameters, weightDecay: 0.01f);
        var schedule = new LearningRateSchedule(3e-3f, TotalSteps: 60, WarmupSteps: 5);
        float first = session.Loss(inputs, targets);
        for (int step = 0; step < 60; step++)
        {
            session.ZeroGrad();
            session.ForwardBackward(inputs, targets);
            opt.ClipGradNorm(1f);
            opt.Step(schedule.At(step));
        }
        float last = session.Loss(inputs, targets);
        output.WriteLine($"stories260K full fine-tuning ({full.ParameterCount} params): loss {first:F3} -> {last:F4} in 60 steps");
        Assert.True(first / last > 5, $"loss fell only from {first} to {last}");

        using var dir = new TempDir();
        var saved = dir.File("tuned.gguf");
        full.SaveGguf(saved);
        using var tuned = TransformerModel.Load(saved);
        Assert.Equal(baseModel.Gguf!.GetStringArray("tokenizer.ggml.tokens"), tuned.Gguf!.GetStringArray("tokenizer.ggml.tokens"));
        using var infer = new InferenceSession(tuned, new SessionOptions(ContextSize: 64, Threads: 1));
        var want = seqs[2];
        var got = new List<int>(want[..3]);
        infer.Forward(want.AsSpan(0, 3));
        while (got.Count < want.Length)
        {
            int next = 0;
            var logits = infer.Logits;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[next]) next = i;
            got.Add(next);
            infer.Forward([next]);
        }
        Assert.Equal(want, got.ToArray());

        // A resume reads the values back.
        var fresh = new FullModelParameters(baseModel);
        fresh.LoadGguf(saved);
        for (int i = 0; i < full.Parameters.Count; i++) Assert.Equal(full.Parameters[i].Values, fresh.Parameters[i].Values);
    }

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
}
