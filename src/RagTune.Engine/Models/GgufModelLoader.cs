using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Models;

/// <summary>
/// Maps a GGUF file's metadata and tensor names (llama.cpp's naming: <c>token_embd</c>, <c>blk.N.attn_q</c>, …)
/// onto engine weights. The only place GGUF names are known.
/// </summary>
internal static class GgufModelLoader
{
    /// <summary>Architectures this engine runs, with the RoPE pairing llama.cpp uses for each.</summary>
    private static readonly Dictionary<string, RopeMode> s_architectures = new(StringComparer.Ordinal)
    {
        ["llama"] = RopeMode.Normal,
    };

    public static TransformerModel Load(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            RequireArchitecture(file);
            if (file.Tensors.Count == 0)
                throw new ModelFormatException($"{path}: the file contains no tensors (a vocabulary-only GGUF?), so it cannot run as a model. Pass a model file; a vocabulary-only file can serve as --tokenizer.");
            var config = ReadConfig(file);
            var weights = MapWeights(file, config);
            return new TransformerModel(path, config, weights, file, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (string Arch, RopeMode Rope) RequireArchitecture(GgufFile file)
    {
        var arch = file.GetString("general.architecture")
            ?? throw new ModelFormatException($"{file.Path}: metadata key 'general.architecture' is missing, so this is not a model GGUF (a vocab-only file?). Pass a model file.");
        if (!s_architectures.TryGetValue(arch, out var rope))
            throw new ModelFormatException($"{file.Path}: architecture '{arch}' is not supported. Supported: {string.Join(", ", s_architectures.Keys)}.");
        return (arch, rope);
    }

    public static ModelConfig ReadConfig(GgufFile file)
    {
        var (arch, rope) = RequireArchitecture(file);

        int Int(string key, int? fallback = null) =>
            file.GetInt($"{arch}.{key}") is { } v ? checked((int)v)
            : fallback ?? throw new ModelFormatException($"{file.Path}: metadata key '{arch}.{key}' is missing; the file is incomplete. Re-convert it.");

        int dim = Int("embedding_length");
        int heads = Int("attention.head_count");
        int vocab = file.GetInt($"{arch}.vocab_size") is { } vs ? checked((int)vs)
            : file.GetStringArray("tokenizer.ggml.tokens")?.Length
            ?? (file.TryGetTensor("token_embd.weight", out var emb) ? checked((int)emb.Rows)
                : throw new ModelFormatException($"{file.Path}: cannot tell the vocabulary size (no '{arch}.vocab_size', no tokenizer, no token_embd.weight)."));
        var config = new ModelConfig(
            Architecture: arch,
            Dim: dim,
            HiddenDim: Int("feed_forward_length"),
            Layers: Int("block_count"),
            Heads: heads,
            KvHeads: Int("attention.head_count_kv", heads),
            VocabSize: vocab,
            ContextLength: Int("context_length"),
            RopeTheta: file.GetFloat($"{arch}.rope.freq_base") ?? 10000f,
            NormEps: file.GetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5f,
            Rope: rope);
        config.Validate(file.Path);
        return config;
    }

    private static ModelWeights MapWeights(GgufFile file, ModelConfig c)
    {
        var src = file.Path;
        TensorView T(string name, long rows, int cols, bool f32 = false) =>
            WeightShapes.Expect(src, name, file.GetTensor(name), rows, cols, f32);

        var w = new ModelWeights
        {
            TokenEmbedding = T("token_embd.weight", c.VocabSize, c.Dim),
            OutputNorm = T("output_norm.weight", 1, c.Dim, f32: true),
            Layers = new LayerWeights[c.Layers],
        };
        if (file.TryGetTensor("output.weight", out _))
        {
            w.Output = T("output.weight", c.VocabSize, c.Dim);
        }
        else
        {
            w.Output = w.TokenEmbedding;
            w.TiedOutput = true;
        }
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"blk.{i}.";
            var l = new LayerWeights
            {
                AttnNorm = T(p + "attn_norm.weight", 1, c.Dim, f32: true),
                Wq = T(p + "attn_q.weight", c.QDim, c.Dim),
                Wk = T(p + "attn_k.weight", c.KvDim, c.Dim),
                Wv = T(p + "attn_v.weight", c.KvDim, c.Dim),
                Wo = T(p + "attn_output.weight", c.Dim, c.QDim),
                FfnNorm = T(p + "ffn_norm.weight", 1, c.Dim, f32: true),
                Gate = T(p + "ffn_gate.weight", c.HiddenDim, c.Dim),
                Up = T(p + "ffn_up.weight", c.HiddenDim, c.Dim),
                Down = T(p + "ffn_down.weight", c.Dim, c.HiddenDim),
            };
            if (file.TryGetTensor(p + "attn_q.bias", out _))
            {
                l.Bq = T(p + "attn_q.bias", 1, c.QDim, f32: true);
                l.Bk = T(p + "attn_k.bias", 1, c.KvDim, f32: true);
                l.Bv = T(p + "attn_v.bias", 1, c.KvDim, f32: true);
            }
            w.Layers[i] = l;
        }
        return w;
    }
}
