namespace RagTune.Engine.Tensors;

/// <summary>
/// Tensor element types, numbered exactly as ggml's <c>enum ggml_type</c> so GGUF files read and write
/// without a translation table. Types the engine cannot compute with are still named, so that a file
/// holding them gets a clear "unsupported type" error instead of a garbled read ("named only": not computed).
/// </summary>
public enum GgmlType : uint
{
    /// <summary>32-bit float.</summary>
    F32 = 0,
    /// <summary>IEEE half float.</summary>
    F16 = 1,
    /// <summary>Blocks of 32: fp16 scale + 32 4-bit values.</summary>
    Q4_0 = 2,
    /// <summary>Blocks of 32: fp16 scale and minimum + 4-bit values (named only).</summary>
    Q4_1 = 3,
    /// <summary>Blocks of 32: fp16 scale + 5-bit values (named only).</summary>
    Q5_0 = 6,
    /// <summary>Blocks of 32: fp16 scale and minimum + 5-bit values (named only).</summary>
    Q5_1 = 7,
    /// <summary>Blocks of 32: fp16 scale + 32 int8 values.</summary>
    Q8_0 = 8,
    /// <summary>Blocks of 32: scale and sum + int8 values (named only).</summary>
    Q8_1 = 9,
    /// <summary>K-quant super-blocks of 256 at 2 bits (named only).</summary>
    Q2_K = 10,
    /// <summary>K-quant super-blocks of 256 at 3 bits (named only).</summary>
    Q3_K = 11,
    /// <summary>K-quant super-blocks of 256 at 4 bits, with 6-bit sub-block scales and minimums.</summary>
    Q4_K = 12,
    /// <summary>As <see cref="Q4_K"/> with a fifth bit per value.</summary>
    Q5_K = 13,
    /// <summary>K-quant super-blocks of 256 at 6 bits with int8 sub-block scales.</summary>
    Q6_K = 14,
    /// <summary>Super-blocks of 256 int8 values, ggml's partner of the K-quants (named only).</summary>
    Q8_K = 15,
    /// <summary>ggml's IQ2_XXS (named only).</summary>
    IQ2_XXS = 16,
    /// <summary>ggml's IQ2_XS (named only).</summary>
    IQ2_XS = 17,
    /// <summary>ggml's IQ3_XXS (named only).</summary>
    IQ3_XXS = 18,
    /// <summary>ggml's IQ1_S (named only).</summary>
    IQ1_S = 19,
    /// <summary>ggml's IQ4_NL (named only).</summary>
    IQ4_NL = 20,
    /// <summary>ggml's IQ3_S (named only).</summary>
    IQ3_S = 21,
    /// <summary>ggml's IQ2_S (named only).</summary>
    IQ2_S = 22,
    /// <summary>ggml's IQ4_XS (named only).</summary>
    IQ4_XS = 23,
    /// <summary>8-bit integer (named only).</summary>
    I8 = 24,
    /// <summary>16-bit integer (named only).</summary>
    I16 = 25,
    /// <summary>32-bit integer (named only).</summary>
    I32 = 26,
    /// <summary>64-bit integer (named only).</summary>
    I64 = 27,
    /// <summary>64-bit float (named only).</summary>
    F64 = 28,
    /// <summary>ggml's IQ1_M (named only).</summary>
    IQ1_M = 29,
    /// <summary>bfloat16: the top 16 bits of a float.</summary>
    BF16 = 30,
    /// <summary>ggml's ternary TQ1_0 (named only).</summary>
    TQ1_0 = 34,
    /// <summary>ggml's ternary TQ2_0 (named only).</summary>
    TQ2_0 = 35,
}

/// <summary>Block layout of one tensor type: elements per block and bytes per block (ggml's type traits).</summary>
public readonly record struct GgmlTypeTraits(GgmlType Type, string Name, int BlockSize, int BlockBytes, bool Supported)
{
    /// <summary>Bytes taken by a row of <paramref name="elements"/> values; the row length must be a whole number of blocks.</summary>
    public long RowBytes(long elements)
    {
        if (elements % BlockSize != 0)
            throw new InvalidDataException($"A {Name} row needs a multiple of {BlockSize} elements, got {elements}.");
        return elements / BlockSize * BlockBytes;
    }
}

/// <summary>The types' layouts (ggml's <c>type_traits</c> sizes): what the GGUF reader sizes tensors by, and what the kernels' table (Kernels/QuantTraits.cs) takes its layouts from.</summary>
public static class GgmlTypes
{
    // Block sizes and byte sizes from ggml-common.h. "Supported" means the engine computes with it.
    private static readonly GgmlTypeTraits[] s_traits = Build();

    private static GgmlTypeTraits[] Build()
    {
        var t = new GgmlTypeTraits[64];
        void Set(GgmlType type, int block, int bytes, bool supported) =>
            t[(int)type] = new GgmlTypeTraits(type, type.ToString().ToLowerInvariant(), block, bytes, supported);
        Set(GgmlType.F32, 1, 4, true);
        Set(GgmlType.F16, 1, 2, true);
        Set(GgmlType.BF16, 1, 2, true);
        Set(GgmlType.Q8_0, 32, 34, true);   // fp16 d + 32 x int8
        Set(GgmlType.Q4_0, 32, 18, true);   // fp16 d + 16 bytes of nibbles
        Set(GgmlType.Q4_1, 32, 20, false);
        Set(GgmlType.Q5_0, 32, 22, false);
        Set(GgmlType.Q5_1, 32, 24, false);
        Set(GgmlType.Q8_1, 32, 36, false);
        Set(GgmlType.Q2_K, 256, 84, false);
        Set(GgmlType.Q3_K, 256, 110, false);
        Set(GgmlType.Q4_K, 256, 144, true);   // d, dmin, 12 bytes 6-bit scales/mins, 128 bytes nibbles
        Set(GgmlType.Q5_K, 256, 176, true);   // as Q4_K + qh[32] fifth bits
        Set(GgmlType.Q6_K, 256, 210, true);   // ql[128], qh[64], int8 scales[16], d
        Set(GgmlType.Q8_K, 256, 292, false);
        Set(GgmlType.IQ2_XXS, 256, 66, false);
        Set(GgmlType.IQ2_XS, 256, 74, false);
        Set(GgmlType.IQ3_XXS, 256, 98, false);
        Set(GgmlType.IQ1_S, 256, 50, false);
        Set(GgmlType.IQ4_NL, 32, 18, false);
        Set(GgmlType.IQ3_S, 256, 110, false);
        Set(GgmlType.IQ2_S, 256, 82, false);
        Set(GgmlType.IQ4_XS, 256, 136, false);
        Set(GgmlType.I8, 1, 1, false);
        Set(GgmlType.I16, 1, 2, false);
        Set(GgmlType.I32, 1, 4, false);
        Set(GgmlType.I64, 1, 8, false);
        Set(GgmlType.F64, 1, 8, false);
        Set(GgmlType.IQ1_M, 256, 56, false);
        Set(GgmlType.TQ1_0, 256, 54, false);
        Set(GgmlType.TQ2_0, 256, 66, false);
        return t;
    }

    /// <summary>True when <paramref name="raw"/> names a type ggml defines (supported or not).</summary>
    public static bool IsKnown(uint raw) => raw < s_traits.Length && s_traits[raw].BlockSize != 0;

    /// <summary>Traits of a known type; throws for numbers ggml does not define.</summary>
    public static GgmlTypeTraits Traits(GgmlType type) =>
        IsKnown((uint)type) ? s_traits[(int)type]
        : throw new InvalidDataException($"Unknown tensor type number {(uint)type}; the file may be corrupt or from a newer ggml.");

    /// <summary>Parses a user-facing type name such as <c>q8_0</c> or <c>f16</c>.</summary>
    public static GgmlType Parse(string name)
    {
        foreach (var t in s_traits)
            if (t.BlockSize != 0 && string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
                return t.Type;
        throw new ArgumentException($"Unknown tensor type '{name}'. Known types: f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k.", nameof(name));
    }
}
