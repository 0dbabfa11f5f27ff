using System.Text.Json;

namespace RagTune.Models.Embeddings;

/// <summary>
/// What a sentence-transformers folder says about turning token states into a sentence vector: <c>modules.json</c>
/// (the module pipeline; a <c>Normalize</c> module means L2 normalisation), the Pooling module's <c>config.json</c>
/// <c>sentence_bert_config.json</c> (<c>max_seq_length</c>) and <c>config_sentence_transformers.json</c> (its
/// <c>prompts</c>: the <c>query</c> prompt put before queries, <c>document</c> / <c>passage</c> before passages). A plain
/// Hugging Face folder has none of them.
/// </summary>
/// <param name="Pooling">The Pooling module's mode (mean or CLS); null when the folder does not say.</param>
/// <param name="Normalize">True when the pipeline ends in a <c>Normalize</c> module; null without <c>modules.json</c>.</param>
/// <param name="MaxSeqLength">The <c>max_seq_length</c> of <c>sentence_bert_config.json</c>; null when absent.</param>
/// <param name="QueryPrompt">The prompt put before queries; null when none.</param>
/// <param name="PassagePrompt">The prompt put before passages (<c>document</c>, else <c>passage</c>); null when none.</param>
public sealed record SentenceTransformersConfig(EmbeddingPooling? Pooling, bool? Normalize, int? MaxSeqLength, string? QueryPrompt = null, string? PassagePrompt = null)
{
    /// <summary>The files <see cref="Write"/> writes and <see cref="Read"/> reads, relative to the model folder.</summary>
    internal static readonly string[] FileNames = ["modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"];

    /// <summary>
    /// Writes the sentence-transformers files of a Transformer → Pooling (→ Normalize) pipeline into <paramref name="folder"/>,
    /// with the query prompt in <c>config_sentence_transformers.json</c> when one is given.
    /// </summary>
    internal static void Write(string folder, int hidden, EmbeddingPooling pooling, bool normalize, int maxSeqLength, string? queryPrompt = null)
    {
        var modules = """[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}""";
        if (normalize) modules += """, {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}""";
        File.WriteAllText(Path.Combine(folder, "modules.json"), modules + "]");
        Directory.CreateDirectory(Path.Combine(folder, "1_Pooling"));
        File.WriteAllText(Path.Combine(folder, "1_Pooling", "config.json"), string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $$"""{"word_embedding_dimension": {{hidden}}, "pooling_mode_cls_token": {{(pooling == EmbeddingPooling.Cls ? "true" : "false")}}, "pooling_mode_mean_tokens": {{(pooling == EmbeddingPooling.Mean ? "true" : "false")}}, "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false}"""));
        File.WriteAllText(Path.Combine(folder, "sentence_bert_config.json"), string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $$"""{"max_seq_length": {{maxSeqLength}}, "do_lower_case": false}"""));
        var prompts = new Dictionary<string, string>();
        if (!string.IsNullOrEmpty(queryPrompt)) prompts["query"] = queryPrompt;
        File.WriteAllText(Path.Combine(folder, "config_sentence_transformers.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["prompts"] = prompts,
            ["default_prompt_name"] = null!,
        }));
    }

    /// <summary>
    /// Reads what <paramref name="folder"/>'s sentence-transformers files say (absent files leave their values null);
    /// the Pooling module's config only when <paramref name="readPooling"/>.
    /// </summary>
    /// <exception cref="EmbeddingModelException">A file is not valid JSON, or names a module or pooling RagTune does not run.</exception>
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
        string? query = null, passage = null;
        var promptsPath = Path.Combine(folder, "config_sentence_transformers.json");
        if (File.Exists(promptsPath))
        {
            using var doc = Parse(promptsPath);
            if (doc.RootElement.TryGetProperty("prompts", out var prompts) && prompts.ValueKind == JsonValueKind.Object)
            {
                string? Prompt(string name) => prompts.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;
                query = Prompt("query");
                passage = Prompt("document") ?? Prompt("passage");
            }
        }
        return new SentenceTransformersConfig(pooling, normalize, maxSeq, query, passage);
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
