using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;

namespace RagTune.Models.Creation;

/// <summary>A named architecture shape for random-weight models (real models' hyperparameters).</summary>
public sealed record ModelPreset(string Name, ModelConfig Config, bool TiedOutput, string Source);

/// <summary>Shapes of real models, so tests and benchmarks run at real sizes without the real weights.</summary>
public static class ModelPresets
{
    /// <summary>Every preset, for <c>create-random --preset</c> and its help.</summary>
    public static IReadOnlyList<ModelPreset> All { get; } =
    [
        // A shape small enough for golden tests; every matrix width a multiple of 32 so all types apply.
        new("tiny", Llama(dim: 64, ffn: 192, layers: 2, heads: 4, kvHeads: 2, vocab: 512, ctx: 256, theta: 10000f), true, "RagTune test shape"),
        // The K-quant test shape: every matrix width a multiple of 256 (Q4_K / Q5_K / Q6_K super-blocks).
        new("tiny-256", Llama(dim: 256, ffn: 512, layers: 2, heads: 4, kvHeads: 2, vocab: 512, ctx: 256, theta: 10000f), true, "RagTune test shape"),
        new("stories260k", Llama(64, 172, 5, 8, 4, 512, 512, 10000f), true, "karpathy/tinyllamas stories260K"),
        new("smollm2-135m", Llama(576, 1536, 30, 9, 3, 49152, 8192, 100000f), true, "HuggingFaceTB/SmolLM2-135M-Instruct config.json"),
        new("smollm2-360m", Llama(960, 2560, 32, 15, 5, 49152, 8192, 100000f), true, "HuggingFaceTB/SmolLM2-360M-Instruct config.json"),
        new("llama-3.2-1b", Llama(2048, 8192, 16, 32, 8, 128256, 131072, 500000f) with { RopeScaling = RopeScaling.Llama3 }, true, "meta-llama/Llama-3.2-1B config.json"),
        new("qwen2.5-0.5b", Qwen2(896, 4864, 24, 14, 2, 151936, 32768), true, "Qwen/Qwen2.5-0.5B-Instruct config.json"),
        new("qwen2.5-1.5b", Qwen2(1536, 8960, 28, 12, 2, 151936, 32768), true, "Qwen/Qwen2.5-1.5B-Instruct config.json"),
        // A qwen2 shape small enough for golden tests (biases, NeoX RoPE, GQA).
        new("tiny-qwen2", Qwen2(64, 192, 2, 4, 2, 512, 256), true, "RagTune test shape"),
        // The tiny llama with a canon layer of kernel 4 before each attention (the demo model's architecture).
        new("tiny-canon", Llama(dim: 64, ffn: 192, layers: 2, heads: 4, kvHeads: 2, vocab: 512, ctx: 256, theta: 10000f) with { CanonKernel = 4 }, true, "RagTune test shape (canon layer)"),
    ];

    /// <summary>The preset called <paramref name="name"/> (case-insensitive); an unknown name throws, listing the known ones.</summary>
    public static ModelPreset Get(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown preset '{name}'. Known presets: {string.Join(", ", All.Select(p => p.Name))}.", nameof(name));

    private static ModelConfig Llama(int dim, int ffn, int layers, int heads, int kvHeads, int vocab, int ctx, float theta) =>
        new("llama", dim, ffn, layers, heads, kvHeads, vocab, ctx, theta, 1e-5f, RopeMode.Normal);

    // Qwen2 / Qwen2.5: rope_theta 1e6, rms_norm_eps 1e-6, q/k/v biases, NeoX RoPE.
    private static ModelConfig Qwen2(int dim, int ffn, int layers, int heads, int kvHeads, int vocab, int ctx) =>
        new("qwen2", dim, ffn, layers, heads, kvHeads, vocab, ctx, 1_000_000f, 1e-6f, RopeMode.NeoX);

    /// <summary>A preset with its architecture changed (the shape kept), for <c>create-random --arch</c>.</summary>
    public static ModelPreset WithArchitecture(ModelPreset preset, string arch)
    {
        var family = ModelArchitecture.FromGguf(arch)
            ?? throw new ArgumentException($"Architecture '{arch}' is not supported; supported: {ModelArchitecture.Names}.", nameof(arch));
        if (preset.Config.Architecture == family.Name) return preset;
        return preset with { Config = preset.Config with { Architecture = family.Name, Rope = family.GgufRope } };
    }

    /// <summary>
    /// Reads a Hugging Face <c>config.json</c> (LlamaForCausalLM or Qwen2ForCausalLM) as a preset; errors are
    /// <see cref="ModelFormatException"/>s naming the file and field.
    /// </summary>
    public static ModelPreset FromHuggingFaceConfig(string path)
    {
        var hf = HuggingFaceConfig.Read(path);
        var full = Path.GetFullPath(path);
        var dir = Directory.Exists(full) ? full : Path.GetDirectoryName(full);
        return new ModelPreset(Path.GetFileName(dir) ?? "custom", hf.Config, hf.TiedOutput, path);
    }
}
