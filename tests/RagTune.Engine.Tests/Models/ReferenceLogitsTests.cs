using System.Security.Cryptography;
using System.Text.Json;
using RagTune.Engine.Models;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Models;

/// <summary>
/// Logits against the independent PyTorch reference (<c>dev/reference/make_golden.py</c>). The random tiny models
/// are rebuilt here by our own writer; the golden file's sha256 proves they are byte-identical to the files the
/// reference read.
/// </summary>
public sealed class ReferenceLogitsTests
{
    [Fact]
    public void Stories260k_logits_match_the_reference_at_every_position()
    {
        var golden = Golden.Load("stories260k_logits.json");
        var model = golden.GetProperty("models")[0];
        Compare(SharedData.File("models", "stories260k", "stories260K.gguf"), golden, model, absTolerance: 1e-4f, relRmsBudget: 0);
    }

    // Tolerances: f32/f16/bf16 weights are used exactly as the reference dequantizes them, so only float
    // summation order differs. Q8_0/Q4_0 also quantize activations to Q8_0 (as ggml does), which the
    // reference does not: their budget is a share of the logits' RMS.
    [Theory]
    [InlineData("f32", 2e-4f, 0f)]
    [InlineData("f16", 2e-4f, 0f)]
    [InlineData("bf16", 2e-4f, 0f)]
    [InlineData("q8_0", 0f, 0.03f)]
    [InlineData("q4_0", 0f, 0.03f)]
    public void Tiny_random_model_logits_match_the_reference(string type, float absTolerance, float relRmsBudget)
    {
        var golden = Golden.Load("tiny_logits.json");
        var model = golden.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("file").GetString() == $"tiny-{type}.gguf");
        Compare(TinyModels.Get("tiny", type, seed: 1), golden, model, absTolerance, relRmsBudget);
    }

    // Each quantized type within its error budget of the F32 model (same seed, same underlying weights).
    [Theory]
    [InlineData("f16", 0.002)]
    [InlineData("bf16", 0.01)]
    [InlineData("q8_0", 0.03)]
    [InlineData("q4_0", 0.35)]
    public void Quantized_models_stay_within_their_error_budget_of_f32(string type, double budget)
    {
        int[] tokens = [1, 5, 9, 200, 17, 300, 42];
        var f32 = Logits(TinyModels.Get("tiny", "f32", 1), tokens);
        var q = Logits(TinyModels.Get("tiny", type, 1), tokens);
        double err = 0, norm = 0;
        for (int i = 0; i < f32.Length; i++) { err += (q[i] - f32[i]) * (double)(q[i] - f32[i]); norm += f32[i] * (double)f32[i]; }
        double rel = Math.Sqrt(err / norm);
        Assert.True(rel < budget, $"{type}: relative L2 error {rel:F4} over budget {budget}");
        Assert.True(rel > 0, $"{type}: identical to f32, so the type was not applied");
    }

    /// <summary>Logits of every position of <paramref name="tokens"/>, [T, V].</summary>
    internal static float[] Logits(string path, int[] tokens)
    {
        using var m = TransformerModel.Load(path);
        using var s = new InferenceSession(m, new SessionOptions(64, Threads: 2));
        var all = new float[tokens.Length * m.Config.VocabSize];
        s.ForwardAll(tokens, all);
        return all;
    }

    private static void Compare(string path, JsonElement golden, JsonElement model, float absTolerance, float relRmsBudget)
    {
        var sha = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();
        Assert.Equal(model.GetProperty("sha256").GetString(), sha);
        var tokens = golden.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var ours = Logits(path, tokens);
        var rows = model.GetProperty("logits").EnumerateArray().Select(Golden.Floats).ToArray();
        int v = rows[0].Length;
        Assert.Equal(tokens.Length, rows.Length);
        for (int p = 0; p < rows.Length; p++)
        {
            var expected = rows[p];
            var actual = ours.AsSpan(p * v, v);
            double err = 0, norm = 0;
            for (int i = 0; i < v; i++)
            {
                if (absTolerance > 0)
                    Assert.True(MathF.Abs(expected[i] - actual[i]) <= absTolerance * MathF.Max(1, MathF.Abs(expected[i])),
                        $"position {p}, logit {i}: reference {expected[i]}, engine {actual[i]}");
                err += (expected[i] - actual[i]) * (double)(expected[i] - actual[i]);
                norm += expected[i] * (double)expected[i];
            }
            if (relRmsBudget > 0)
                Assert.True(Math.Sqrt(err / norm) <= relRmsBudget, $"position {p}: relative RMS error {Math.Sqrt(err / norm):F5} over {relRmsBudget}");
        }
    }
}
