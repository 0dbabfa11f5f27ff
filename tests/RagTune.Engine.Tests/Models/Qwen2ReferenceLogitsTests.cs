using System.Security.Cryptography;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Models;

/// <summary>
/// The random tiny qwen2 model (q/k/v biases, NeoX RoPE, theta 1e6, eps 1e-6) against the PyTorch reference
/// (<c>dev/reference/golden/tiny_qwen2_logits.json</c>); the sha256 proves our writer rebuilt the same file.
/// </summary>
public sealed class Qwen2ReferenceLogitsTests
{
    [Theory]
    [InlineData("f32", 2e-4f, 0f)]
    [InlineData("q8_0", 0f, 0.03f)]
    public void Tiny_qwen2_logits_match_the_reference(string type, float absTolerance, float relRmsBudget)
    {
        var golden = Golden.Load("tiny_qwen2_logits.json");
        var entry = golden.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("file").GetString() == $"tiny-qwen2-{type}.gguf");
        var path = TinyModels.Get("tiny-qwen2", type, seed: 1);
        Assert.Equal(entry.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
        Assert.Equal("qwen2", entry.GetProperty("arch").GetString());

        var tokens = golden.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var m = TransformerModel.Load(path);
        Assert.Equal(RopeMode.NeoX, m.Config.Rope);
        Assert.False(m.Weights.Layers[0].Bq.IsEmpty);
        using var s = new InferenceSession(m, new SessionOptions(64, Threads: 2));
        int v = m.Config.VocabSize;
        var ours = new float[tokens.Length * v];
        s.ForwardAll(tokens, ours);
        var rows = entry.GetProperty("logits").EnumerateArray().Select(Golden.Floats).ToArray();
        for (int p = 0; p < rows.Length; p++)
        {
            double err = 0, norm = 0;
            for (int i = 0; i < v; i++)
            {
                float e = rows[p][i], a = ours[p * v + i];
                if (absTolerance > 0)
                    Assert.True(MathF.Abs(e - a) <= absTolerance * MathF.Max(1, MathF.Abs(e)), $"position {p}, logit {i}: reference {e}, engine {a}");
                err += (e - a) * (double)(e - a);
                norm += e * (double)e;
            }
            if (relRmsBudget > 0)
                Assert.True(Math.Sqrt(err / norm) <= relRmsBudget, $"position {p}: relative RMS error {Math.Sqrt(err / norm):F5}");
        }
    }

    [Fact]
    public void Architecture_table_names_rope_mode_and_biases()
    {
        Assert.Equal(RopeMode.Normal, ModelArchitecture.FromGguf("llama")!.GgufRope);
        Assert.Equal(RopeMode.NeoX, ModelArchitecture.FromGguf("qwen2")!.GgufRope);
        Assert.True(ModelArchitecture.Qwen2.HasQkvBias);
        Assert.Null(ModelArchitecture.FromGguf("gemma"));
        Assert.Same(ModelArchitecture.Qwen2, ModelArchitecture.FromHuggingFace("Qwen2ForCausalLM", null));
        Assert.Null(ModelArchitecture.FromHuggingFace("MistralForCausalLM", "mistral"));
    }
}
