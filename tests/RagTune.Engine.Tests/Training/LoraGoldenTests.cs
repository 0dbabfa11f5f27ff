using System.Security.Cryptography;
using System.Text.Json;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Training;

/// <summary>
/// Whole-model LoRA loss, gradients of every A and B, and one AdamW step against the float64 PyTorch reference
/// (<c>dev/reference/training/lora_golden.py</c> → <c>golden/lora_tiny.json</c>, Llama, and <c>golden/lora_tiny_qwen2.json</c>, Qwen2). The Q8_0 run uses the dequantized
/// base in the reference; training here also runs quantized bases in F32 activations, so both runs share the tolerances:
/// gradients within 2e-3 of each tensor's largest |gradient| (float32 vs float64 summation), loss within 1e-4.
/// </summary>
public sealed class LoraGoldenTests
{
    public static TheoryData<string, string, string> Runs => new()
    {
        { "tiny", "f32", "q,v" },
        { "tiny", "q8_0", "q,v" },
        { "tiny", "f32", "q,k,v,o,gate,up,down" },
        // Qwen2: q/k/v biases outside the LoRA branch, NeoX RoPE pairs.
        { "tiny-qwen2", "f32", "q,k,v,down" },
        { "tiny-qwen2", "q8_0", "q,k,v,down" },
        { "tiny-qwen2", "f32", "q,k,v,o,gate,up,down" },
    };

    [Theory]
    [MemberData(nameof(Runs))]
    public void Gradients_and_one_AdamW_step_match_the_pytorch_reference(string preset, string type, string targets)
    {
        var golden = Golden.Load(preset == "tiny" ? "lora_tiny.json" : "lora_tiny_qwen2.json");
        var run = golden.GetProperty("runs").EnumerateArray()
            .Single(r => r.GetProperty("file").GetString() == $"{preset}-{type}-1.gguf" && r.GetProperty("targets").GetString() == targets);
        var path = TinyModels.Get(preset, type, seed: 1);
        Assert.Equal(run.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant());
        int[] tokens = Ints(golden.GetProperty("tokens")), tgts = Ints(golden.GetProperty("targets"));
        int batch = golden.GetProperty("batch").GetInt32(), seq = golden.GetProperty("seq_len").GetInt32();

        using var model = TransformerModel.Load(path);
        var config = new LoraConfig(run.GetProperty("rank").GetInt32(), run.GetProperty("alpha").GetSingle(), Dropout: 0f, LoraTargetNames.Parse(targets));
        var adapter = new LoraAdapter(model.Config, config);
        FillFromFormula(adapter);
        using var session = new TrainingSession(model, adapter, new TrainingOptions(batch, seq, Threads: 2));

        float loss = session.ForwardBackward(tokens, tgts);
        Assert.True(Math.Abs(loss - run.GetProperty("loss").GetDouble()) < 1e-4, $"loss {loss}, reference {run.GetProperty("loss").GetDouble()}");
        Assert.Equal(loss, session.Loss(tokens, tgts), 5);

        var expected = run.GetProperty("params").EnumerateArray().ToArray();
        Assert.Equal(expected.Length, adapter.Parameters.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            var p = adapter.Parameters[i];
            Assert.Equal(expected[i].GetProperty("name").GetString(), p.Name);
            Assert.Equal(Ints(expected[i].GetProperty("shape")), p.Shape);
            var g = Golden.Floats(expected[i].GetProperty("grad"));
            float scale = g.Max(MathF.Abs);
            for (int j = 0; j < g.Length; j++)
                Assert.True(MathF.Abs(p.Grad[j] - g[j]) <= 2e-3f * scale + 1e-7f, $"{p.Name}[{j}]: grad {p.Grad[j]}, reference {g[j]} (max |g| {scale})");
        }

        float lr = run.GetProperty("lr").GetSingle();
        var opt = new AdamW(adapter.Parameters, weightDecay: run.GetProperty("weight_decay").GetSingle());
        opt.Step(lr);
        for (int i = 0; i < expected.Length; i++)
        {
            var p = adapter.Parameters[i];
            var g = Golden.Floats(expected[i].GetProperty("grad"));
            var after = Golden.Floats(expected[i].GetProperty("after_step"));
            float scale = g.Max(MathF.Abs);
            for (int j = 0; j < after.Length; j++)
            {
                // The first Adam step moves each value by ≈ lr·sign(g): exact wherever g is clearly above the float error.
                float tol = MathF.Abs(g[j]) > 1e-2f * scale ? 2e-6f : 2 * lr;
                Assert.True(MathF.Abs(p.Values[j] - after[j]) <= tol, $"{p.Name}[{j}] after AdamW: {p.Values[j]}, reference {after[j]}");
            }
        }
    }

    /// <summary>Element j of parameter k is 0.1·sin(0.37·j + 1.3·k + 0.5), the formula lora_golden.py uses.</summary>
    internal static void FillFromFormula(LoraAdapter adapter)
    {
        for (int k = 0; k < adapter.Parameters.Count; k++)
        {
            var v = adapter.Parameters[k].Values;
            for (int j = 0; j < v.Length; j++) v[j] = (float)(0.1 * Math.Sin(0.37 * j + 1.3 * k + 0.5));
        }
    }

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
}
