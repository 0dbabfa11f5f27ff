using RagTune.Engine.Tensors;
using RagTune.Models.Creation;

namespace RagTune.TestKit;

/// <summary>
/// Random-weight models written by the product's own writer (<c>ragtune model create-random</c>), cached
/// per test process in a temp folder so several tests share one file.
/// </summary>
public static class TinyModels
{
    private static readonly string s_dir = Path.Combine(Path.GetTempPath(), "ragtune-tiny-models-" + Environment.ProcessId);
    private static readonly object s_lock = new();

    /// <summary>Path of a random model with the given preset, type name (f32, q8_0, …) and seed.</summary>
    public static string Get(string preset, string type, ulong seed = 1) =>
        GetOrCreate($"{preset}-{type}-{seed}.gguf",
            path => RandomModelWriter.Write(ModelPresets.Get(preset), GgmlTypes.Parse(type), seed, path));

    /// <summary>
    /// A small random BERT embedding model (Hugging Face folder layout, mean pooling, normalised) with the synthetic
    /// vocabulary of <see cref="RagTune.Models.Embeddings.RandomEmbeddingModelWriter"/>: ids 104.. are the words
    /// <c>w104</c>, <c>w105</c>, …; any other word is [UNK].
    /// </summary>
    public static string Embedding(ulong seed = 1) =>
        GetOrCreate($"bert-tiny-{seed}", folder =>
            RagTune.Models.Embeddings.RandomEmbeddingModelWriter.Write(folder,
                new RagTune.Engine.Encoders.BertConfig(512, 32, 2, 4, 64, 128, 2, 1e-12f), seed, f16: false));

    /// <summary>
    /// Like <see cref="Get"/> with the context raised to <paramref name="contextLength"/> tokens, for prompts longer
    /// than the small presets hold (grounded prompts with numbered sources, in the synthetic vocabulary's many tokens).
    /// </summary>
    public static string WithContext(string preset, string type, int contextLength, ulong seed = 1)
    {
        var p = ModelPresets.Get(preset);
        return GetOrCreate($"{preset}-{type}-{seed}-ctx{contextLength}.gguf",
            path => RandomModelWriter.Write(p with { Config = p.Config with { ContextLength = contextLength } }, GgmlTypes.Parse(type), seed, path));
    }

    /// <summary>
    /// A random model whose vocabulary has ChatML's control tokens and whose GGUF carries the ChatML chat template
    /// (as Qwen2 files do); for chat-template tests on <c>tiny-qwen2</c>.
    /// </summary>
    public static string GetChatMl(string preset, string type, ulong seed = 1) =>
        GetOrCreate($"{preset}-{type}-{seed}-chatml.gguf",
            path => RandomModelWriter.Write(ModelPresets.Get(preset), GgmlTypes.Parse(type), seed, path, chatMl: true));

    /// <summary>Creates (once per process) a file named <paramref name="name"/> with <paramref name="create"/>.</summary>
    public static string GetOrCreate(string name, Action<string> create)
    {
        lock (s_lock)
        {
            Directory.CreateDirectory(s_dir);
            var path = Path.Combine(s_dir, name);
            if (!File.Exists(path) && !Directory.Exists(path)) create(path);
            return path;
        }
    }
}
