using System.Text.Json;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;

namespace RagTune.Models.Creation;

/// <summary>A named architecture shape for random-weight models (real models' hyperparameters).</summary>
internal sealed record ModelPreset(string Name, ModelConfig Config, bool TiedOutput, string Source);

/// <summary>Shapes of real models, so tests and benchmarks run at real sizes without the real weights.</summary>
internal static class ModelPresets
{
    public static IReadOnlyList<ModelPreset> All { get; } =
    [
        // A shape small enough for golden tests; every matrix width a multiple of 32 so all types apply.
        new("tiny", Llama(dim: 64, ffn: 192, layers: 2, heads: 4, kvHeads: 2, vocab: 512, ctx: 256, theta: 10000f), true, "RagTune test shape"),
        new("stories260k", Llama(64, 172, 5, 8, 4, 512, 512, 10000f), true, "karpathy/tinyllamas stories260K"),
        new("smollm2-135m", Llama(576, 1536, 30, 9, 3, 49152, 8192, 100000f), true, "HuggingFaceTB/SmolLM2-135M-Instruct config.json"),
        new("smollm2-360m", Llama(960, 2560, 32, 15, 5, 49152, 8192, 100000f), true, "HuggingFaceTB/SmolLM2-360M-Instruct config.json"),
        new("llama-3.2-1b", Llama(2048, 8192, 16, 32, 8, 128256, 131072, 500000f), true, "meta-llama/Llama-3.2-1B config.json (rope scaling not applied yet)"),
    ];

    public static ModelPreset Get(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown preset '{name}'. Known presets: {string.Join(", ", All.Select(p => p.Name))}.", nameof(name));

    private static ModelConfig Llama(int dim, int ffn, int layers, int heads, int kvHeads, int vocab, int ctx, float theta) =>
        new("llama", dim, ffn, layers, heads, kvHeads, vocab, ctx, theta, 1e-5f, RopeMode.Normal);

    /// <summary>
    /// Reads a Hugging Face <c>config.json</c> (LlamaForCausalLM fields: hidden_size, intermediate_size,
    /// num_hidden_layers, num_attention_heads, num_key_value_heads, vocab_size, max_position_embeddings,
    /// rope_theta, rms_norm_eps, tie_word_embeddings).
    /// </summary>
    public static ModelPreset FromHuggingFaceConfig(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Config file '{path}' does not exist.", path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            int Int(string field, int? fallback = null)
            {
                if (root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number) return v.GetInt32();
                return fallback ?? throw new InvalidDataException($"{path}: field '{field}' is missing or not a number; a Llama-style config.json needs it.");
            }
            float Float(string field, float fallback) =>
                root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetSingle() : fallback;
            string arch = root.TryGetProperty("model_type", out var mt) ? mt.GetString() ?? "llama" : "llama";
            if (arch != "llama")
                throw new InvalidDataException($"{path}: model_type '{arch}' is not supported for random models yet (supported: llama).");
            int heads = Int("num_attention_heads");
            var config = new ModelConfig("llama", Int("hidden_size"), Int("intermediate_size"), Int("num_hidden_layers"), heads,
                Int("num_key_value_heads", heads), Int("vocab_size"), Int("max_position_embeddings"),
                Float("rope_theta", 10000f), Float("rms_norm_eps", 1e-5f), RopeMode.Normal);
            config.Validate(path);
            bool tied = root.TryGetProperty("tie_word_embeddings", out var t) && t.ValueKind == JsonValueKind.True;
            return new ModelPreset(Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? "custom", config, tied, path);
        }
    }
}
