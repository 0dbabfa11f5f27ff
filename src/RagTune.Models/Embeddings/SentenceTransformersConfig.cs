using System.Text.Json;

namespace RagTune.Models.Embeddings;

/// <summary>
/// What a sentence-transformers folder says about turning token states into a sentence vector: <c>modules.json</c>
/// (the module pipeline; a <c>Normalize</c> module means L2 normalisation), the Pooling module's <c>config.json</c>
/// and <c>sentence_bert_config.json</c> (<c>max_seq_length</c>). A plain Hugging Face folder has none of them.
/// </summary>
internal sealed record SentenceTransformersConfig(EmbeddingPooling? Pooling, bool? Normalize, int? MaxSeqLength)
{
    public static SentenceTransformersConfig Read(string folder, bool readPooling = true)
    {
        EmbeddingPooling? pooling = null;
        bool? normalize = null;
        int? maxSeq = null;
        string poolingDir = Path.Combine(folder, "1_Pooling");

        var modulesPath = Path.Combine(folder, "modules.json");
        if (File.Exists(modulesPath))
        {
            using var doc = Parse(modulesPath);
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new EmbeddingModelException($"{modulesPath}: expected a JSON array of modules.");
            normalize = false;
            foreach (var m in doc.RootElement.EnumerateArray())
            {
                var type = m.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
                var path = m.TryGetProperty("path", out var p) ? p.GetString() ?? "" : "";
                if (type.EndsWith(".Normalize", StringComparison.Ordinal)) normalize = true;
                else if (type.EndsWith(".Pooling", StringComparison.Ordinal)) poolingDir = Path.Combine(folder, path);
                else if (!type.EndsWith(".Transformer", StringComparison.Ordinal))
                    throw new EmbeddingModelException($"{modulesPath}: module '{type}' is not supported; RagTune runs Transformer → Pooling → Normalize pipelines only (a Dense projection is not).");
            }
        }

        var poolingPath = Path.Combine(poolingDir, "config.json");
        if (readPooling && File.Exists(poolingPath))
        {
            using var doc = Parse(poolingPath);
            var root = doc.RootElement;
            bool Flag(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
            var on = new[] { "pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken" }
                .Where(Flag).ToArray();
            pooling = on switch
            {
                ["pooling_mode_mean_tokens"] => EmbeddingPooling.Mean,
                ["pooling_mode_cls_token"] => EmbeddingPooling.Cls,
                _ => throw new EmbeddingModelException(
                    $"{poolingPath}: pooling [{string.Join(", ", on)}] is not supported; RagTune supports exactly one of pooling_mode_mean_tokens or pooling_mode_cls_token. Set LocalEmbeddingOptions.Pooling to override."),
            };
        }

        var sbertPath = Path.Combine(folder, "sentence_bert_config.json");
        if (File.Exists(sbertPath))
        {
            using var doc = Parse(sbertPath);
            if (doc.RootElement.TryGetProperty("max_seq_length", out var m) && m.ValueKind == JsonValueKind.Number)
                maxSeq = m.GetInt32();
        }
        return new SentenceTransformersConfig(pooling, normalize, maxSeq);
    }

    private static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new EmbeddingModelException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }
}
