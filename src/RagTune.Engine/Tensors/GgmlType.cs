namespace RagTune.Engine.Tensors;

/// <summary>
/// Tensor element types, numbered exactly as ggml's <c>enum ggml_type</c> so GGUF files read and write
/// without a translation table. Types the engine cannot compute with are still named, so that a file
/// holding them gets a clear "unsupported type" error instead of a garbled read.
/// </summary>
internal enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
}

/// <summary>Block layout of one tensor type: elements per block and bytes per block (ggml's type traits).</summary>
internal readonly record struct GgmlTypeTraits(GgmlType Type, string Name, int BlockSize, int BlockBytes, bool Supported)
{
    /// <summary>Bytes taken by a row of <paramref name="elements"/> values; the row length must be a whole number of blocks.</summary>
    public long RowBytes(long elements)
    {
        if (elements % BlockSize != 0)
            throw new InvalidDataException($"A {Name} row needs a multiple of {BlockSize} elements, got {elements}.");
        return elements / BlockSize * BlockBytes;
    }
}

/// <summary>The one traits table that drives size computation and dispatch (ggml's <c>type_traits</c>).</summary>
internal static class GgmlTypes
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
