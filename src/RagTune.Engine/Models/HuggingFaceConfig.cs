using System.Text.Json;
using RagTune.Engine.Formats;

namespace RagTune.Engine.Models;

/// <summary>
/// A Hugging Face <c>config.json</c> read into engine terms (LlamaForCausalLM / Qwen2ForCausalLM fields:
/// hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, vocab_size,
/// max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings, rope_scaling, attention_bias).
/// </summary>
/// <param name="Config">Hyperparameters; <see cref="ModelConfig.Rope"/> is the GGUF pairing of the family.</param>
/// <param name="Family">The architecture descriptor.</param>
/// <param name="TiedOutput">tie_word_embeddings.</param>
/// <param name="HasQkvBias">Q/K/V projections carry biases (Qwen2, or llama with attention_bias).</param>
/// <param name="BosTokenId">bos_token_id, when given.</param>
/// <param name="EosTokenId">eos_token_id (the first, when a list), when given.</param>
public sealed record HuggingFaceConfig(ModelConfig Config, ModelArchitecture Family, bool TiedOutput, bool HasQkvBias, int? BosTokenId, int? EosTokenId)
{
    /// <summary>The file's name in a Hugging Face model folder.</summary>
    public const string FileName = "config.json";

    /// <summary>Reads <paramref name="path"/>: a config.json, or a folder holding one.</summary>
    public static HuggingFaceConfig Read(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, FileName);
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{path}' does not exist; a Hugging Face model folder needs its config.json.", path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "the top level is not a JSON object.");
            string? hfClass = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0 ? a[0].GetString() : null;
            string? modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            var family = ModelArchitecture.FromHuggingFace(hfClass, modelType)
                ?? throw new ModelFormatException(path, $"architecture '{hfClass ?? modelType ?? "(none given)"}' is not supported. Supported: {string.Join(", ", ModelArchitecture.All.Select(x => x.HfClass))}.");

            int Int(string field, int? fallback = null)
            {
                if (root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i)) return i;
                return fallback ?? throw new ModelFormatException(path, $"field '{field}' is missing or not an integer; a {family.HfClass} config.json needs it.");
            }
            float Float(JsonElement obj, string field, float fallback) =>
                obj.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetSingle() : fallback;
            bool Bool(string field, bool fallback) =>
                root.TryGetProperty(field, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;
            int? OptionalId(string field) =>
                !root.TryGetProperty(field, out var v) ? null
                : v.ValueKind == JsonValueKind.Number ? v.GetInt32()
                : v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 ? v[0].GetInt32() : null;

            int dim = Int("hidden_size"), heads = Int("num_attention_heads");
            if (root.TryGetProperty("head_dim", out var hd) && hd.ValueKind == JsonValueKind.Number && hd.GetInt32() * heads != dim)
                throw new ModelFormatException(path, $"head_dim {hd.GetInt32()} x {heads} heads differs from hidden_size {dim}; such models are not supported yet.");
            if (root.TryGetProperty("hidden_act", out var act) && act.GetString() is { } actName && actName != "silu")
                throw new ModelFormatException(path, $"hidden_act '{actName}' is not supported (the engine runs SwiGLU, 'silu').");

            RopeScaling? scaling = null;
            if (root.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind == JsonValueKind.Object)
            {
                string? type = rs.TryGetProperty("rope_type", out var rt) ? rt.GetString() : rs.TryGetProperty("type", out var t2) ? t2.GetString() : null;
                if (type is not ("llama3" or "default"))
                    throw new ModelFormatException(path, $"rope_scaling type '{type}' is not supported (supported: llama3).");
                if (type == "llama3")
                    scaling = new RopeScaling(Float(rs, "factor", 8f), Float(rs, "low_freq_factor", 1f), Float(rs, "high_freq_factor", 4f),
                        rs.TryGetProperty("original_max_position_embeddings", out var o) && o.ValueKind == JsonValueKind.Number ? o.GetInt32() : 8192);
            }

            var config = new ModelConfig(family.Name, dim, Int("intermediate_size"), Int("num_hidden_layers"), heads,
                Int("num_key_value_heads", heads), Int("vocab_size"), Int("max_position_embeddings"),
                Float(root, "rope_theta", 10000f), Float(root, "rms_norm_eps", 1e-6f), family.GgufRope, scaling);
            config.Validate(path);
            return new HuggingFaceConfig(config, family, Bool("tie_word_embeddings", false),
                family.HasQkvBias || Bool("attention_bias", false), OptionalId("bos_token_id"), OptionalId("eos_token_id"));
        }
    }

    /// <summary>
    /// A config.json for <paramref name="config"/>, with the fields transformers needs to load the model
    /// (<paramref name="dtype"/> is <c>torch_dtype</c>: float32, float16 or bfloat16).
    /// </summary>
    public static string Render(ModelConfig config, bool tiedOutput, string dtype, int? bosTokenId = null, int? eosTokenId = null)
    {
        var family = config.Family;
        var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteStartArray("architectures");
            j.WriteStringValue(family.HfClass);
            j.WriteEndArray();
            j.WriteString("model_type", family.HfModelType);
            j.WriteNumber("hidden_size", config.Dim);
            j.WriteNumber("intermediate_size", config.HiddenDim);
            j.WriteNumber("num_hidden_layers", config.Layers);
            j.WriteNumber("num_attention_heads", config.Heads);
            j.WriteNumber("num_key_value_heads", config.KvHeads);
            j.WriteNumber("vocab_size", config.VocabSize);
            j.WriteNumber("max_position_embeddings", config.ContextLength);
            j.WriteNumber("rope_theta", config.RopeTheta);
            j.WriteNumber("rms_norm_eps", config.NormEps);
            j.WriteString("hidden_act", "silu");
            j.WriteBoolean("tie_word_embeddings", tiedOutput);
            if (family == ModelArchitecture.Llama) j.WriteBoolean("attention_bias", false);
            if (config.RopeScaling is { } s)
            {
                j.WriteStartObject("rope_scaling");
                j.WriteString("rope_type", "llama3");
                j.WriteNumber("factor", s.Factor);
                j.WriteNumber("low_freq_factor", s.LowFreqFactor);
                j.WriteNumber("high_freq_factor", s.HighFreqFactor);
                j.WriteNumber("original_max_position_embeddings", s.OriginalContextLength);
                j.WriteEndObject();
            }
            if (bosTokenId is { } b) j.WriteNumber("bos_token_id", b);
            if (eosTokenId is { } e) j.WriteNumber("eos_token_id", e);
            j.WriteString("torch_dtype", dtype);
            j.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
