namespace RagTune.Cli.Commands;

/// <summary>The <c>--type</c> of the model writers: a tensor type name, or <c>q4_k_m</c> (llama.cpp's Q4_K_M mix).</summary>
internal static class ModelTypeOption
{
    public const string Choices = "f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k or q4_k_m (Q4_K with Q6_K output and half the attn_v/ffn_down, as llama.cpp)";

    public static (RagTune.Engine.Tensors.GgmlType Type, bool MediumMix, string Name) Parse(string name)
    {
        if (string.Equals(name, "q4_k_m", StringComparison.OrdinalIgnoreCase)) return (RagTune.Engine.Tensors.GgmlType.Q4_K, true, "q4_k_m");
        var type = RagTune.Engine.Tensors.GgmlTypes.Parse(name);
        return (type, false, RagTune.Engine.Tensors.GgmlTypes.Traits(type).Name);
    }
}
