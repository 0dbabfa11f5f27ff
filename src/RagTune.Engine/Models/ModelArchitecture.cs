using RagTune.Engine.Kernels;

namespace RagTune.Engine.Models;

/// <summary>
/// What differs between the decoder families the engine runs, in one place: adding Qwen3, Gemma or Phi-3 is a new
/// entry here (plus whatever new tensors it brings in the loaders), not a change scattered over the code.
/// </summary>
/// <param name="Name">GGUF <c>general.architecture</c> and prefix of its metadata keys (<c>llama</c>, <c>qwen2</c>).</param>
/// <param name="GgufRope">RoPE pairing of the GGUF layout (llama.cpp's <c>llama_model_rope_type</c>).</param>
/// <param name="HasQkvBias">Whether Q/K/V projections carry biases (<c>attn_q.bias</c>…; Qwen2's <c>q_proj.bias</c>).</param>
/// <param name="HfModelType">Hugging Face <c>config.json</c> <c>model_type</c>.</param>
/// <param name="HfClass">Hugging Face <c>architectures[0]</c> class name.</param>
/// <param name="PermuteQkForGguf">
/// Hugging Face stores Q/K rows for rotate-half (NeoX) RoPE; llama.cpp's <c>llama</c> layout interleaves each head's
/// halves for NORM RoPE, so conversion permutes the rows (convert_hf_to_gguf.py's <c>LlamaModel.permute</c>).
/// Families whose GGUF layout is already NeoX (qwen2) are copied as they are.
/// </param>
public sealed record ModelArchitecture(string Name, RopeMode GgufRope, bool HasQkvBias, string HfModelType, string HfClass, bool PermuteQkForGguf)
{
    internal static readonly ModelArchitecture Llama = new("llama", RopeMode.Normal, HasQkvBias: false, "llama", "LlamaForCausalLM", PermuteQkForGguf: true);

    internal static readonly ModelArchitecture Qwen2 = new("qwen2", RopeMode.NeoX, HasQkvBias: true, "qwen2", "Qwen2ForCausalLM", PermuteQkForGguf: false);

    /// <summary>Every architecture the engine runs.</summary>
    public static IReadOnlyList<ModelArchitecture> All { get; } = [Llama, Qwen2];

    /// <summary>Names for error messages.</summary>
    public static string Names => string.Join(", ", All.Select(a => a.Name));

    /// <summary>The architecture GGUF calls <paramref name="name"/>, or null.</summary>
    public static ModelArchitecture? FromGguf(string name) => All.FirstOrDefault(a => a.Name == name);

    /// <summary>The architecture of a Hugging Face class name (<c>LlamaForCausalLM</c>) or <c>model_type</c>, or null.</summary>
    public static ModelArchitecture? FromHuggingFace(string? hfClass, string? modelType) =>
        All.FirstOrDefault(a => a.HfClass == hfClass) ?? (hfClass == null ? All.FirstOrDefault(a => a.HfModelType == modelType) : null);
}
