using System.Text.Json;
using RagTune.Engine.Formats;

namespace RagTune.Engine.Encoders;

/// <summary>
/// Hyperparameters of a BERT encoder (Devlin et al. 2018) as Hugging Face's <c>BertConfig</c> names them in
/// <c>config.json</c>. Immutable. Only absolute position embeddings and the exact-erf GELU are supported, which
/// covers all-MiniLM, BGE, E5, GTE-base-style and ms-marco cross-encoder checkpoints.
/// </summary>
/// <param name="VocabSize">Word-piece vocabulary V (<c>vocab_size</c>).</param>
/// <param name="Hidden">Hidden size H (<c>hidden_size</c>).</param>
/// <param name="Layers">Transformer layers L (<c>num_hidden_layers</c>).</param>
/// <param name="Heads">Attention heads (<c>num_attention_heads</c>); H is a multiple of it.</param>
/// <param name="Intermediate">Feed-forward width I (<c>intermediate_size</c>).</param>
/// <param name="MaxPositions">Longest input in tokens P (<c>max_position_embeddings</c>).</param>
/// <param name="TypeVocabSize">Segment (token type) count (<c>type_vocab_size</c>, 2 for BERT).</param>
/// <param name="LayerNormEps">LayerNorm epsilon (<c>layer_norm_eps</c>, 1e-12 for BERT).</param>
/// <param name="NumLabels">Classification outputs for <c>BertForSequenceClassification</c>; 0 for a bare encoder.</param>
public sealed record BertConfig(
    int VocabSize,
    int Hidden,
    int Layers,
    int Heads,
    int Intermediate,
    int MaxPositions,
    int TypeVocabSize,
    float LayerNormEps,
    int NumLabels = 0)
{
    /// <summary>all-MiniLM-L6-v2: 384 wide, 6 layers, 12 heads, 1536 FFN.</summary>
    public static BertConfig MiniLmL6 { get; } = new(30522, 384, 6, 12, 1536, 512, 2, 1e-12f);

    /// <summary>bge-small-en-v1.5: 384 wide, 12 layers, 12 heads, 1536 FFN.</summary>
    public static BertConfig BgeSmall { get; } = new(30522, 384, 12, 12, 1536, 512, 2, 1e-12f);

    /// <summary>A BERT vocabulary under a 64-wide, 2-layer, 4-head encoder with 256 FFN: small enough to train on 2 cores.</summary>
    public static BertConfig Tiny { get; } = new(30522, 64, 2, 4, 256, 512, 2, 1e-12f);

    /// <summary>Per-head width, H / heads.</summary>
    public int HeadDim => Hidden / Heads;

    /// <summary>Checks the numbers fit together; <paramref name="source"/> names the file in the message.</summary>
    public void Validate(string source)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new ModelFormatException(source, $"invalid BERT hyperparameters: {what}. Check config.json against the model card.");
        }
        Require(VocabSize > 0 && Hidden > 0 && Layers > 0 && Heads > 0 && Intermediate > 0 && MaxPositions > 0 && TypeVocabSize > 0,
            $"all sizes must be positive (vocab {VocabSize}, hidden {Hidden}, layers {Layers}, heads {Heads}, intermediate {Intermediate}, positions {MaxPositions}, types {TypeVocabSize})");
        Require(Hidden % Heads == 0, $"hidden_size {Hidden} is not a multiple of num_attention_heads {Heads}");
        Require(LayerNormEps > 0 && float.IsFinite(LayerNormEps), $"layer_norm_eps {LayerNormEps} must be positive");
        Require(NumLabels >= 0, $"num_labels {NumLabels} must not be negative");
    }

    /// <summary>Reads a Hugging Face <c>config.json</c> of <c>model_type</c> <c>bert</c>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">A field is missing, or the model is not a supported BERT.</exception>
    public static BertConfig FromJson(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{path}' does not exist; a Hugging Face model folder holds config.json next to model.safetensors.", path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"not valid JSON ({e.Message}).", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            string? Str(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            int Int(string name, int? fallback = null) =>
                root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32()
                : fallback ?? throw new ModelFormatException(path, $"field '{name}' is missing; this config.json does not describe a BERT model.");

            var modelType = Str("model_type");
            if (modelType is not null and not "bert")
                throw new ModelFormatException(path, $"model_type is '{modelType}'; only 'bert' encoders are supported (RoBERTa/XLM-R offset their positions and are not).");
            var act = Str("hidden_act") ?? "gelu";
            if (act != "gelu")
                throw new ModelFormatException(path, $"hidden_act '{act}' is not supported; only 'gelu' (exact erf form) is implemented.");
            var pos = Str("position_embedding_type") ?? "absolute";
            if (pos != "absolute")
                throw new ModelFormatException(path, $"position_embedding_type '{pos}' is not supported; only 'absolute'.");
            float eps = root.TryGetProperty("layer_norm_eps", out var e) && e.ValueKind == JsonValueKind.Number ? e.GetSingle() : 1e-12f;
            int labels = 0;
            if (root.TryGetProperty("architectures", out var arch) && arch.ValueKind == JsonValueKind.Array
                && arch.EnumerateArray().Any(a => a.GetString() == "BertForSequenceClassification"))
            {
                labels = root.TryGetProperty("id2label", out var id2) && id2.ValueKind == JsonValueKind.Object ? id2.EnumerateObject().Count() : Int("num_labels", 2);
            }
            var config = new BertConfig(Int("vocab_size"), Int("hidden_size"), Int("num_hidden_layers"), Int("num_attention_heads"),
                Int("intermediate_size"), Int("max_position_embeddings", 512), Int("type_vocab_size", 2), eps, labels);
            config.Validate(path);
            return config;
        }
    }

    /// <summary>The config as Hugging Face <c>config.json</c> text, for writers.</summary>
    public string ToJson()
    {
        var o = new Dictionary<string, object>
        {
            ["architectures"] = new[] { NumLabels > 0 ? "BertForSequenceClassification" : "BertModel" },
            ["model_type"] = "bert",
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = Hidden,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["intermediate_size"] = Intermediate,
            ["max_position_embeddings"] = MaxPositions,
            ["type_vocab_size"] = TypeVocabSize,
            ["layer_norm_eps"] = LayerNormEps,
            ["hidden_act"] = "gelu",
            ["position_embedding_type"] = "absolute",
            ["pad_token_id"] = 0,
        };
        if (NumLabels > 0) o["id2label"] = Enumerable.Range(0, NumLabels).ToDictionary(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture), i => "LABEL_" + i);
        return JsonSerializer.Serialize(o, new JsonSerializerOptions { WriteIndented = true });
    }
}
