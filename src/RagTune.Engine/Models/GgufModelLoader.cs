using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Models;

/// <summary>
/// Maps a GGUF file's metadata and tensor names (llama.cpp's naming: <c>token_embd</c>, <c>blk.N.attn_q</c>, …)
/// onto engine weights. The only place GGUF names are known.
/// </summary>
public static class GgufModelLoader
{
    internal static TransformerModel Load(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            RequireArchitecture(file);
            if (file.Tensors.Count == 0)
                throw new ModelFormatException($"{path}: the file contains no tensors (a vocabulary-only GGUF?), so it cannot run as a model. Pass a model file; a vocabulary-only file can serve as --tokenizer.");
            var config = ReadConfig(file);
            var weights = MapWeights(path, file.TryGetTensor, config);
            ReadOnlySpan<float> ropeFreqs = default;
            if (file.TryGetTensor(RopeFreqsTensor, out var rf))
                ropeFreqs = WeightShapes.Expect(path, RopeFreqsTensor, rf, 1, config.HeadDim / 2, requireF32: true).AsFloats();
            return new TransformerModel(path, config, weights, file, file, ropeFreqs);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>llama.cpp's per-pair RoPE frequency divisors ([headDim/2] f32), written for Llama 3 rope scaling.</summary>
    public const string RopeFreqsTensor = "rope_freqs.weight";

    private static ModelArchitecture RequireArchitecture(GgufFile file)
    {
        var arch = file.GetString("general.architecture")
            ?? throw new ModelFormatException($"{file.Path}: metadata key 'general.architecture' is missing, so this is not a model GGUF (a vocab-only file?). Pass a model file.");
        return ModelArchitecture.FromGguf(arch)
            ?? throw new ModelFormatException($"{file.Path}: architecture '{arch}' is not supported. Supported: {ModelArchitecture.Names}.");
    }

    /// <summary>The metadata key (after <c>{arch}.</c>) of the canon layer's kernel size, a RagTune extension.</summary>
    public const string CanonKernelKey = "canon.kernel_size";

    /// <summary>The name of a block's canon layer weight after <c>blk.N.</c>.</summary>
    public const string CanonTensorSuffix = "attn_canon.weight";

    /// <summary>The canon layer's weight of block <paramref name="layer"/>.</summary>
    public static string CanonTensor(int layer) => $"blk.{layer}.{CanonTensorSuffix}";

    /// <summary>The hyperparameters in <paramref name="file"/>'s metadata, checked; a missing or bad key throws naming it.</summary>
    public static ModelConfig ReadConfig(GgufFile file)
    {
        var family = RequireArchitecture(file);
        string arch = family.Name;

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
            Rope: family.GgufRope,
            RopeScaling: ReadRopeScaling(file, arch),
            CanonKernel: Int(CanonKernelKey, 0));
        config.Validate(file.Path);
        return config;
    }

    // Llama 3 scaling as metadata (llama.cpp writes rope_freqs.weight instead; both are read, the tensor when no keys).
    private static RopeScaling? ReadRopeScaling(GgufFile file, string arch)
    {
        var type = file.GetString($"{arch}.rope.scaling.type");
        if (type is null or "none") return null;
        if (type != "llama3")
            throw new ModelFormatException($"{file.Path}: rope scaling type '{type}' ({arch}.rope.scaling.type) is not supported (supported: llama3).");
        float F(string key) => file.GetFloat($"{arch}.rope.scaling.{key}")
            ?? throw new ModelFormatException($"{file.Path}: metadata key '{arch}.rope.scaling.{key}' is missing for llama3 rope scaling. Re-convert the model.");
        return new RopeScaling(F("factor"), F("low_freq_factor"), F("high_freq_factor"),
            checked((int)(file.GetInt($"{arch}.rope.scaling.original_context_length")
                ?? throw new ModelFormatException($"{file.Path}: metadata key '{arch}.rope.scaling.original_context_length' is missing for llama3 rope scaling."))));
    }

    /// <summary>
    /// Builds engine weights from tensors found by their GGUF names (<paramref name="tryGet"/> may translate
    /// them, as the Hugging Face loader does), checking every shape. Q/K/V biases are taken when present.
    /// </summary>
    internal static ModelWeights MapWeights(string src, TensorLookup tryGet, ModelConfig c, Func<string, string>? displayName = null)
    {
        displayName ??= n => n;
        TensorView T(string name, long rows, int cols, bool f32 = false) =>
            tryGet(name, out var t) ? WeightShapes.Expect(src, displayName(name), t, rows, cols, f32)
            : throw new ModelFormatException($"{src}: tensor '{displayName(name)}' is missing. The file is incomplete or not a {c.Architecture} model; re-convert or re-download it.");

        var w = new ModelWeights
        {
            TokenEmbedding = T("token_embd.weight", c.VocabSize, c.Dim),
            OutputNorm = T("output_norm.weight", 1, c.Dim, f32: true),
            Layers = new LayerWeights[c.Layers],
        };
        if (tryGet("output.weight", out _))
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
            if (c.CanonKernel > 0) l.Canon = T(CanonTensor(i), c.CanonKernel, c.Dim, f32: true);
            if (tryGet(p + "attn_q.bias", out _))
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

/// <summary>Finds a tensor by its GGUF name; false when the source has none.</summary>
internal delegate bool TensorLookup(string name, out TensorView view);
