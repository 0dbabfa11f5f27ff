using System.Text.Json;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Creation;

/// <summary>Hugging Face folders written by our writer, loaded directly and through GGUF conversion.</summary>
public sealed class HuggingFaceConversionTests : IDisposable
{
    private static readonly int[] s_tokens = [1, 5, 9, 200, 17, 300, 42];
    private readonly string _dir = Directory.CreateTempSubdirectory("ragtune-hf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static float[] Logits(string path)
    {
        using var m = TransformerModel.Load(path);
        using var s = new InferenceSession(m, new SessionOptions(64, Threads: 2));
        var all = new float[s_tokens.Length * m.Config.VocabSize];
        s.ForwardAll(s_tokens, all);
        return all;
    }

    private static double RelError(float[] expected, float[] actual)
    {
        double err = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++) { err += (actual[i] - expected[i]) * (double)(actual[i] - expected[i]); norm += expected[i] * (double)expected[i]; }
        return Math.Sqrt(err / norm);
    }

    private string Folder(string preset, GgmlType type, ulong seed = 1, string? arch = null)
    {
        var p = ModelPresets.Get(preset);
        if (arch != null) p = ModelPresets.WithArchitecture(p, arch);
        var folder = Path.Combine(_dir, $"{preset}-{arch}-{type}-{seed}");
        RandomModelWriter.WriteHuggingFace(p, type, seed, folder);
        return folder;
    }

    [Theory]
    [InlineData("tiny", "f32")]
    [InlineData("tiny", "bf16")]
    [InlineData("tiny-qwen2", "f32")]
    [InlineData("tiny-qwen2", "f16")]
    public void A_folder_and_its_f32_gguf_conversion_give_the_same_logits(string preset, string type)
    {
        var folder = Folder(preset, GgmlTypes.Parse(type));
        var gguf = Path.Combine(_dir, "converted.gguf");
        var result = GgufConverter.Convert(folder, GgmlType.F32, gguf);
        Assert.Contains(result.Warnings, w => w.Contains("tokenizer"));
        var direct = Logits(folder);
        var converted = Logits(gguf);
        for (int i = 0; i < direct.Length; i++)
            Assert.True(MathF.Abs(direct[i] - converted[i]) <= 1e-4f * MathF.Max(1, MathF.Abs(direct[i])), $"logit {i}: folder {direct[i]}, gguf {converted[i]}");
        using var m = TransformerModel.Load(gguf);
        Assert.Equal(ModelPresets.Get(preset).Config.Architecture, m.Config.Architecture);
        Assert.Equal(ModelPresets.Get(preset).Config.Rope, m.Config.Rope); // llama: permuted to NORM; qwen2: NeoX
    }

    [Fact]
    public void Llama_conversion_permutes_q_and_k_so_dropping_the_permutation_would_change_the_logits()
    {
        // The folder runs with NeoX rope; read its Q/K as if already in GGUF order and the logits move.
        var folder = Folder("tiny", GgmlType.F32);
        using var m = TransformerModel.Load(folder);
        Assert.Equal(RopeMode.NeoX, m.Config.Rope);
        var gguf = Path.Combine(_dir, "c.gguf");
        GgufConverter.Convert(folder, GgmlType.F32, gguf);
        using var g = GgufFile.Open(gguf);
        var hfQ = m.Weights.Layers[0].Wq;
        var ggQ = g.GetTensor("blk.0.attn_q.weight");
        int hd = m.Config.HeadDim;
        // GGUF row 1 (pair 0, second element) is HF row hd/2 of head 0.
        Assert.True(hfQ.Row(hd / 2).SequenceEqual(ggQ.Row(1)));
        Assert.False(hfQ.Row(1).SequenceEqual(ggQ.Row(1)));
    }

    [Fact]
    public void Quantized_conversion_stays_within_budget_of_the_folder()
    {
        var folder = Folder("tiny-qwen2", GgmlType.F32);
        var gguf = Path.Combine(_dir, "q8.gguf");
        var result = GgufConverter.Convert(folder, GgmlType.Q8_0, gguf);
        Assert.Equal(0, result.KeptF32);
        double rel = RelError(Logits(folder), Logits(gguf));
        Assert.InRange(rel, 1e-7, 0.03);
    }

    [Theory]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    [InlineData("f16")]
    public void Requantizing_an_f32_gguf_equals_create_random_at_that_type(string type)
    {
        var f32 = TinyModels.Get("tiny-qwen2", "f32", 7);
        var direct = TinyModels.Get("tiny-qwen2", type, 7);
        var requant = Path.Combine(_dir, $"requant-{type}.gguf");
        GgufConverter.Convert(f32, GgmlTypes.Parse(type), requant);
        using var a = GgufFile.Open(direct);
        using var b = GgufFile.Open(requant);
        Assert.Equal(a.Tensors.Select(t => (t.Name, t.Type)), b.Tensors.Select(t => (t.Name, t.Type)));
        foreach (var t in a.Tensors)
            Assert.True(a.GetTensorBytes(t).SequenceEqual(b.GetTensorBytes(b.Tensors.Single(x => x.Name == t.Name))), t.Name);
        Assert.Equal((long)GgufConverter.FileType(GgmlTypes.Parse(type)), b.GetInt("general.file_type"));
    }

    [Fact]
    public void A_sharded_folder_loads_like_the_single_file_and_a_missing_shard_is_named()
    {
        var single = Folder("tiny-qwen2", GgmlType.F32);
        var sharded = Path.Combine(_dir, "sharded");
        Directory.CreateDirectory(sharded);
        File.Copy(Path.Combine(single, "config.json"), Path.Combine(sharded, "config.json"));
        using (var src = SafetensorsFile.Open(Path.Combine(single, "model.safetensors")))
        {
            var shards = new[] { new SafetensorsWriter(), new SafetensorsWriter() };
            var map = new Dictionary<string, string>();
            for (int i = 0; i < src.Tensors.Count; i++)
            {
                var t = src.Tensors[i];
                int s = i < src.Tensors.Count / 2 ? 0 : 1;
                shards[s].AddTensor(t.Name, t.Dtype, t.Shape, stream => stream.Write(src.GetBytes(t)));
                map[t.Name] = $"model-0000{s + 1}-of-00002.safetensors";
            }
            for (int s = 0; s < 2; s++) shards[s].Write(Path.Combine(sharded, $"model-0000{s + 1}-of-00002.safetensors"));
            File.WriteAllText(Path.Combine(sharded, SafetensorsShards.IndexFileName),
                JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        }
        Assert.Equal(Logits(single), Logits(sharded));

        File.Delete(Path.Combine(sharded, "model-00002-of-00002.safetensors"));
        var e = Assert.ThrowsAny<IOException>(() => TransformerModel.Load(sharded).Dispose());
        Assert.Contains("shard 'model-00002-of-00002.safetensors'", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void An_unsupported_architecture_in_config_json_is_a_clear_error()
    {
        var folder = Folder("tiny", GgmlType.F32);
        var config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("LlamaForCausalLM", "MistralForCausalLM"));
        var e = Assert.Throws<ModelFormatException>(() => TransformerModel.Load(folder).Dispose());
        Assert.Contains("MistralForCausalLM", e.Message);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("Qwen2ForCausalLM", e.Message);
        Assert.Throws<ModelFormatException>(() => GgufConverter.Convert(folder, GgmlType.F32, Path.Combine(_dir, "x.gguf")));
        Assert.False(File.Exists(Path.Combine(_dir, "x.gguf")));
    }

    [Fact]
    public void A_folder_missing_a_tensor_names_it_in_hf_terms()
    {
        var folder = Folder("tiny", GgmlType.F32);
        var st = Path.Combine(folder, "model.safetensors");
        using (var src = SafetensorsFile.Open(st))
        {
            var w = new SafetensorsWriter();
            foreach (var t in src.Tensors.Where(t => t.Name != "model.layers.1.mlp.up_proj.weight"))
                w.AddTensor(t.Name, t.Dtype, t.Shape, stream => stream.Write(src.GetBytes(t)));
            w.Write(st + ".new");
        }
        File.Move(st + ".new", st, overwrite: true);
        var e = Assert.Throws<ModelFormatException>(() => TransformerModel.Load(folder).Dispose());
        Assert.Contains("'model.layers.1.mlp.up_proj.weight' is missing", e.Message);
    }

    [Fact]
    public void Llama3_rope_scaling_matches_the_reference_from_gguf_and_from_a_folder()
    {
        var golden = Golden.Load("llama3_rope_inv_freq.json");
        var expected = Golden.Floats(golden.GetProperty("inv_freq"));
        // A small model with Llama 3.2's head dim (64), theta and scaling.
        var config = ModelPresets.Get("tiny").Config with { Dim = 128, Heads = 2, KvHeads = 1, Layers = 1, RopeTheta = 500000f, RopeScaling = RopeScaling.Llama3 };
        var preset = new ModelPreset("tiny-llama3", config, true, "test");
        var gguf = Path.Combine(_dir, "llama3.gguf");
        RandomModelWriter.Write(preset, GgmlType.F32, 1, gguf);
        var folder = Path.Combine(_dir, "llama3-hf");
        RandomModelWriter.WriteHuggingFace(preset, GgmlType.F32, 1, folder);
        var converted = Path.Combine(_dir, "llama3-conv.gguf");
        GgufConverter.Convert(folder, GgmlType.F32, converted);
        foreach (var path in new[] { gguf, folder, converted })
        {
            using var m = TransformerModel.Load(path);
            Assert.Equal(expected.Length, m.InverseFrequencies.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(MathF.Abs(expected[i] - m.InverseFrequencies[i]) <= 2e-6f * expected[i], $"{path}: pair {i}: reference {expected[i]}, engine {m.InverseFrequencies[i]}");
        }
        // Scaling only slows the low frequencies: the first pair is untouched, the last divided by the factor.
        Assert.Equal(expected[^1] * 32, 1 / MathF.Pow(500000f, 62f / 64f), 1e-9f);
        var diff = RelError(Logits(folder), Logits(converted));
        Assert.True(diff < 1e-5, $"folder vs conversion: {diff}");
    }

    [Fact]
    public void Qwen_presets_have_the_published_shapes()
    {
        var small = ModelPresets.Get("qwen2.5-0.5b");
        Assert.Equal(("qwen2", 896, 4864, 24, 14, 2, 151936), (small.Config.Architecture, small.Config.Dim, small.Config.HiddenDim, small.Config.Layers, small.Config.Heads, small.Config.KvHeads, small.Config.VocabSize));
        Assert.Equal((1e6f, 1e-6f, RopeMode.NeoX, true), (small.Config.RopeTheta, small.Config.NormEps, small.Config.Rope, small.TiedOutput));
        // Qwen2.5-0.5B has 494,032,768 parameters (tied embeddings, with q/k/v biases).
        Assert.Equal(494_032_768, small.Config.ParameterCount(small.TiedOutput));
        var big = ModelPresets.Get("qwen2.5-1.5b");
        Assert.Equal((1536, 8960, 28, 12, 2), (big.Config.Dim, big.Config.HiddenDim, big.Config.Layers, big.Config.Heads, big.Config.KvHeads));
        Assert.Equal(RopeScaling.Llama3, ModelPresets.Get("llama-3.2-1b").Config.RopeScaling);
    }
}
