using RagTune.Engine.Kernels;

namespace RagTune.Engine.Models;

/// <summary>
/// Hyperparameters of a decoder-only transformer, independent of the file it came from. Immutable: the
/// first of the three lifetimes (config, weights, run state) the engine keeps apart.
/// </summary>
/// <param name="Architecture">Family name as GGUF spells it (<c>llama</c>; <c>qwen2</c> later).</param>
/// <param name="Dim">Model width D (embedding length).</param>
/// <param name="HiddenDim">Feed-forward width F.</param>
/// <param name="Layers">Number of transformer blocks L.</param>
/// <param name="Heads">Query heads H.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention when fewer than <paramref name="Heads"/>).</param>
/// <param name="VocabSize">Vocabulary size V.</param>
/// <param name="ContextLength">Longest sequence the model was trained for.</param>
/// <param name="RopeTheta">RoPE frequency base.</param>
/// <param name="NormEps">RMSNorm epsilon.</param>
/// <param name="Rope">Which element pairs RoPE rotates (llama.cpp's NORM for llama GGUF, NEOX for qwen2 and for
/// Hugging Face llama folders, whose Q/K rows are in rotate-half order).</param>
/// <param name="RopeScaling">Llama 3 frequency scaling, or null.</param>
/// <param name="CanonKernel">Kernel size K of the canon layer before each block's attention (<see cref="Canon"/>;
/// <c>blk.N.attn_canon.weight</c> [K, D] f32, metadata <c>{arch}.canon.kernel_size</c>); 0, every standard model, for none.
/// A RagTune extension: only our engine runs such a file.</param>
public sealed record ModelConfig(
    string Architecture,
    int Dim,
    int HiddenDim,
    int Layers,
    int Heads,
    int KvHeads,
    int VocabSize,
    int ContextLength,
    float RopeTheta,
    float NormEps,
    RopeMode Rope,
    RopeScaling? RopeScaling = null,
    int CanonKernel = 0)
{
    /// <summary>The largest canon kernel accepted (Allen-Zhu 2025 uses 4; a wider one also carries the question to the answer position).</summary>
    public const int MaxCanonKernel = 32;

    /// <summary>Per-head width, D / H.</summary>
    public int HeadDim => Dim / Heads;

    /// <summary>Width of all query heads together, H * headDim.</summary>
    public int QDim => Heads * HeadDim;

    /// <summary>Width of all key (or value) heads together.</summary>
    public int KvDim => KvHeads * HeadDim;

    /// <summary>Checks the numbers fit together; <paramref name="source"/> names the file in the message.</summary>
    public void Validate(string source)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new Formats.ModelFormatException($"{source}: invalid model hyperparameters: {what}. The file's metadata is inconsistent; re-convert or re-download it.");
        }
        Require(Dim > 0 && HiddenDim > 0 && Layers > 0 && Heads > 0 && KvHeads > 0 && VocabSize > 0 && ContextLength > 0,
            $"all sizes must be positive (dim {Dim}, ffn {HiddenDim}, layers {Layers}, heads {Heads}, kv heads {KvHeads}, vocab {VocabSize}, context {ContextLength})");
        Require(Dim % Heads == 0, $"dim {Dim} is not divisible by heads {Heads}");
        Require(Heads % KvHeads == 0, $"heads {Heads} is not divisible by kv heads {KvHeads}");
        Require(HeadDim % 2 == 0, $"head dim {HeadDim} must be even for RoPE");
        Require(RopeTheta > 0 && float.IsFinite(RopeTheta), $"rope theta {RopeTheta}");
        Require(NormEps > 0 && NormEps < 1, $"norm epsilon {NormEps}");
        Require(CanonKernel is >= 0 and <= MaxCanonKernel, $"canon kernel size {CanonKernel} (0 to {MaxCanonKernel})");
        RopeScaling?.Validate(source);
    }

    /// <summary>The architecture descriptor of <see cref="Architecture"/>.</summary>
    public ModelArchitecture Family => ModelArchitecture.FromGguf(Architecture)
        ?? throw new InvalidOperationException($"Architecture '{Architecture}' is not one the engine runs ({ModelArchitecture.Names}).");

    /// <summary>Parameter count of the weights this config implies.</summary>
    public long ParameterCount(bool tiedOutput)
    {
        long d = Dim, f = HiddenDim;
        long bias = ModelArchitecture.FromGguf(Architecture)?.HasQkvBias == true ? QDim + 2L * KvDim : 0;
        long perLayer = 2 * d + d * QDim + 2L * d * KvDim + (long)QDim * d + 3 * d * f + bias + (long)CanonKernel * d;
        return (long)VocabSize * d * (tiedOutput ? 1 : 2) + Layers * perLayer + d;
    }
}
