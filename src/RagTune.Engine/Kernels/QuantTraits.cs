using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Kernels;

// The kernel traits of every tensor type, one table like ggml's type_traits_cpu (ggml-cpu.c): the block layout, the
// partner type activations are quantized to before a weight row of the type is dotted with them (ggml's
// vec_dot_type), the row quantizer of the type (from_float), its row dequantizer (to_float) and the row dot.
// Every per-type kernel choice reads this table, once per call (per matrix in MatMul, per row in QuantizeRow /
// DequantizeRow), and calls the function pointers it holds, so no inner loop sees the type. A type whose entry lacks
// the function asked for fails in one place, Quant.Unsupported, which names the type and the ones that work.
//
// Row dots are (w, x, n): n elements of a weight row w (BlockBytes per BlockSize elements) with an activation row x
// in the partner format; for the F32 partner x is the float row itself.

/// <summary>Block layout and kernels of one tensor type: an entry of <see cref="Quant.Traits"/>.</summary>
internal readonly unsafe struct QuantTraits
{
    public GgmlType Type { get; init; }

    /// <summary>Elements per block (1 for F32 / F16 / BF16), as ggml-common.h; 0 for a type number ggml does not define.</summary>
    public int BlockSize { get; init; }

    /// <summary>Bytes per block, as ggml-common.h.</summary>
    public int BlockBytes { get; init; }

    /// <summary>The format activations take before <see cref="VecDot"/> (ggml's vec_dot_type); F32 for the float types; unset without a row dot.</summary>
    public GgmlType VecDotType { get; init; }

    /// <summary>Quantizes a row of floats to this type; null when the engine cannot write it.</summary>
    public delegate*<ReadOnlySpan<float>, Span<byte>, void> FromFloat { get; init; }

    /// <summary>The scalar reference of <see cref="FromFloat"/> (the same bytes; the same function where there is no fast path).</summary>
    public delegate*<ReadOnlySpan<float>, Span<byte>, void> FromFloatReference { get; init; }

    /// <summary>Expands a row to floats (dst.Length elements); null when the engine cannot read it.</summary>
    public delegate*<ReadOnlySpan<byte>, Span<float>, void> ToFloat { get; init; }

    /// <summary>One weight row of this type · one activation row of <see cref="VecDotType"/>; null when MatMul cannot use the type.</summary>
    public delegate*<byte*, byte*, int, float> VecDot { get; init; }

    /// <summary>The scalar reference of <see cref="VecDot"/>.</summary>
    public delegate*<byte*, byte*, int, float> VecDotReference { get; init; }

    /// <summary>The MatMul kernels written for this block layout beyond the row dot.</summary>
    public MatMulKernels MatMulKernels { get; init; }

    /// <summary>Bytes of a row of <paramref name="elements"/> values (a whole number of blocks).</summary>
    public long RowBytes(long elements) => elements / BlockSize * BlockBytes;
}

/// <summary>The MatMul kernels specialised for one block layout (MatMul.cs chooses among them by the batch's shape).</summary>
internal enum MatMulKernels
{
    /// <summary>Only the row dot (the K-quants: no register-blocked tiles yet).</summary>
    RowDots,
    /// <summary>F32 rows, F16 / BF16 widened four rows at a time, in the 4x4 F32 tiles (MatMul.Tiles.cs).</summary>
    FloatTiles,
    /// <summary>Q8_0 weights: decode rows with pre-expanded scales, int16 and int8 prefill tiles (MatMul.Tiles*.cs).</summary>
    Q8_0Tiles,
    /// <summary>Q4_0 weights: the same kernels in their nibble form.</summary>
    Q4_0Tiles,
}

internal static unsafe partial class Quant
{
    // Indexed by the type number; ggml's numbers stay below 64. Types ggml defines but the engine does not compute with
    // keep their layout (for sizes and messages) and null kernels.
    private static readonly QuantTraits[] s_traits = BuildTraits();
    private static readonly QuantTraits s_unknownTraits;

    /// <summary>The traits of <paramref name="type"/>; an entry with <c>BlockSize == 0</c> and no kernels for a number ggml does not define.</summary>
    internal static ref readonly QuantTraits Traits(GgmlType type)
    {
        if ((uint)type < (uint)s_traits.Length) return ref s_traits[(int)type];
        return ref s_unknownTraits;
    }

    /// <summary>The traits of a type <see cref="QuantizeRow"/> can write; throws <see cref="Unsupported"/> otherwise.</summary>
    internal static ref readonly QuantTraits QuantizeTraits(GgmlType type)
    {
        ref readonly var t = ref Traits(type);
        if (t.FromFloat == null) throw Unsupported(type, "quantizing to", static e => e.FromFloat != null);
        return ref t;
    }

    /// <summary>The traits of a type <see cref="DequantizeRow"/> can read; throws <see cref="Unsupported"/> otherwise.</summary>
    internal static ref readonly QuantTraits DequantizeTraits(GgmlType type)
    {
        ref readonly var t = ref Traits(type);
        if (t.ToFloat == null) throw Unsupported(type, "reading", static e => e.ToFloat != null);
        return ref t;
    }

    /// <summary>The traits of a weight type MatMul can multiply (it has a row dot); throws <see cref="Unsupported"/> otherwise.</summary>
    internal static ref readonly QuantTraits MatMulTraits(GgmlType type)
    {
        ref readonly var t = ref Traits(type);
        if (t.VecDot == null) throw Unsupported(type, "matrix products with", static e => e.VecDot != null);
        return ref t;
    }

    /// <summary>
    /// The one error for a type the table has no kernel for: it names the type, what was asked (<paramref name="what"/>)
    /// and the types that have the kernel (<paramref name="has"/>).
    /// </summary>
    private static NotSupportedException Unsupported(GgmlType type, string what, Func<QuantTraits, bool> has)
    {
        var supported = new List<string>();
        foreach (var t in s_traits)
            if (has(t)) supported.Add(Name(t.Type));
        return new NotSupportedException(
            $"The engine does not support {what} {Name(type)} tensors; it supports {string.Join(", ", supported)}. " +
            "Convert the model to one of those (ragtune model convert <hugging-face-folder> --type q8_0, or llama.cpp's llama-quantize).");
    }

    private static string Name(GgmlType type) => GgmlTypes.IsKnown((uint)type) ? GgmlTypes.Traits(type).Name : $"type number {(uint)type}";

    private static QuantTraits[] BuildTraits()
    {
        var t = new QuantTraits[64];
        // Every layout (block size and bytes) comes from the size table the GGUF reader uses; the kernel rows below add
        // what the engine computes with.
        for (uint raw = 0; raw < t.Length; raw++)
        {
            if (!GgmlTypes.IsKnown(raw)) continue;
            var g = GgmlTypes.Traits((GgmlType)raw);
            t[raw] = new QuantTraits { Type = g.Type, BlockSize = g.BlockSize, BlockBytes = g.BlockBytes };
        }

        t[(int)GgmlType.F32] = t[(int)GgmlType.F32] with
        {
            VecDotType = GgmlType.F32,
            FromFloat = &FromFloatF32, FromFloatReference = &FromFloatF32, ToFloat = &ToFloatF32,
            VecDot = &VecDotF32, VecDotReference = &VecDotF32Reference, MatMulKernels = MatMulKernels.FloatTiles,
        };
        t[(int)GgmlType.F16] = t[(int)GgmlType.F16] with
        {
            VecDotType = GgmlType.F32,
            FromFloat = &FromFloatF16, FromFloatReference = &FromFloatF16, ToFloat = &ToFloatF16,
            VecDot = &VecDotF16, VecDotReference = &VecDotF16Reference, MatMulKernels = MatMulKernels.FloatTiles,
        };
        t[(int)GgmlType.BF16] = t[(int)GgmlType.BF16] with
        {
            VecDotType = GgmlType.F32,
            FromFloat = &FromFloatBF16, FromFloatReference = &FromFloatBF16, ToFloat = &ToFloatBF16,
            VecDot = &VecDotBF16, VecDotReference = &VecDotBF16Reference, MatMulKernels = MatMulKernels.FloatTiles,
        };
        t[(int)GgmlType.Q8_0] = t[(int)GgmlType.Q8_0] with
        {
            VecDotType = GgmlType.Q8_0,
            FromFloat = &FromFloatQ8_0, FromFloatReference = &FromFloatQ8_0Reference, ToFloat = &ToFloatQ8_0,
            VecDot = &VecDotQ8_0, VecDotReference = &VecDotQ8_0Reference, MatMulKernels = MatMulKernels.Q8_0Tiles,
        };
        t[(int)GgmlType.Q4_0] = t[(int)GgmlType.Q4_0] with
        {
            VecDotType = GgmlType.Q8_0,
            FromFloat = &FromFloatQ4_0, FromFloatReference = &FromFloatQ4_0, ToFloat = &ToFloatQ4_0,
            VecDot = &VecDotQ4_0, VecDotReference = &VecDotQ4_0Reference, MatMulKernels = MatMulKernels.Q4_0Tiles,
        };
        t[(int)GgmlType.Q4_K] = t[(int)GgmlType.Q4_K] with
        {
            VecDotType = GgmlType.Q8_K,
            FromFloat = &FromFloatQ4_K, FromFloatReference = &FromFloatQ4_K, ToFloat = &ToFloatQ4_K,
            VecDot = &VecDotQ4_K, VecDotReference = &VecDotQ4_KReference, MatMulKernels = MatMulKernels.RowDots,
        };
        t[(int)GgmlType.Q5_K] = t[(int)GgmlType.Q5_K] with
        {
            VecDotType = GgmlType.Q8_K,
            FromFloat = &FromFloatQ5_K, FromFloatReference = &FromFloatQ5_K, ToFloat = &ToFloatQ5_K,
            VecDot = &VecDotQ5_K, VecDotReference = &VecDotQ5_KReference, MatMulKernels = MatMulKernels.RowDots,
        };
        t[(int)GgmlType.Q6_K] = t[(int)GgmlType.Q6_K] with
        {
            VecDotType = GgmlType.Q8_K,
            FromFloat = &FromFloatQ6_K, FromFloatReference = &FromFloatQ6_K, ToFloat = &ToFloatQ6_K,
            VecDot = &VecDotQ6_K, VecDotReference = &VecDotQ6_KReference, MatMulKernels = MatMulKernels.RowDots,
        };
        // Q8_K only exists in memory, as the K-quants' activation partner: no weights of it, so no row dot.
        t[(int)GgmlType.Q8_K] = t[(int)GgmlType.Q8_K] with
        {
            VecDotType = GgmlType.Q8_K,
            FromFloat = &FromFloatQ8_K, FromFloatReference = &FromFloatQ8_K, ToFloat = &ToFloatQ8_K,
        };
        return t;
    }

    // ---------------------------------------------------------------- from_float

    private static void FromFloatF32(ReadOnlySpan<float> x, Span<byte> y) => MemoryMarshal.AsBytes(x).CopyTo(y);

    private static void FromFloatF16(ReadOnlySpan<float> x, Span<byte> y) =>
        TensorPrimitives.ConvertToHalf(x, MemoryMarshal.Cast<byte, Half>(y)[..x.Length]);

    private static void FromFloatBF16(ReadOnlySpan<float> x, Span<byte> y)
    {
        var b = MemoryMarshal.Cast<byte, ushort>(y);
        for (int i = 0; i < x.Length; i++) b[i] = Fp32ToBf16(x[i]);
    }

    private static void FromFloatQ8_0(ReadOnlySpan<float> x, Span<byte> y) => QuantizeRowQ8_0(x, y);
    private static void FromFloatQ8_0Reference(ReadOnlySpan<float> x, Span<byte> y) => QuantizeRowQ8_0Reference(x, y);
    private static void FromFloatQ4_0(ReadOnlySpan<float> x, Span<byte> y) => QuantizeRowQ4_0(x, y);
    private static void FromFloatQ4_K(ReadOnlySpan<float> x, Span<byte> y) => QuantizeRowQ45_K(x, y, 4);
    private static void FromFloatQ5_K(ReadOnlySpan<float> x, Span<byte> y) => QuantizeRowQ45_K(x, y, 5);
    private static void FromFloatQ6_K(ReadOnlySpan<float> x, Span<byte> y) => QuantizeRowQ6_K(x, y);
    private static void FromFloatQ8_K(ReadOnlySpan<float> x, Span<byte> y) => QuantizeRowQ8_K(x, y);

    // ---------------------------------------------------------------- to_float

    private static void ToFloatF32(ReadOnlySpan<byte> src, Span<float> dst) => MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst);

    private static void ToFloatF16(ReadOnlySpan<byte> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src)[..dst.Length], dst);

    private static void ToFloatBF16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        fixed (byte* ps = src)
        fixed (float* pd = dst)
            Bf16ToFp32((ushort*)ps, pd, dst.Length);
    }

    private static void ToFloatQ8_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int blk = 0; blk < dst.Length / QK; blk++)
        {
            var s = src.Slice(blk * Q8_0BlockBytes, Q8_0BlockBytes);
            float d = Fp16ToFp32(MemoryMarshal.Read<ushort>(s));
            for (int j = 0; j < QK; j++) dst[blk * QK + j] = (sbyte)s[2 + j] * d;
        }
    }

    private static void ToFloatQ4_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int blk = 0; blk < dst.Length / QK; blk++)
        {
            var s = src.Slice(blk * Q4_0BlockBytes, Q4_0BlockBytes);
            float d = Fp16ToFp32(MemoryMarshal.Read<ushort>(s));
            for (int j = 0; j < QK / 2; j++)
            {
                dst[blk * QK + j] = ((s[2 + j] & 0x0F) - 8) * d;
                dst[blk * QK + j + QK / 2] = ((s[2 + j] >> 4) - 8) * d;
            }
        }
    }

    private static void ToFloatQ4_K(ReadOnlySpan<byte> src, Span<float> dst) => DequantizeRowQ45_K(src, dst, 4);
    private static void ToFloatQ5_K(ReadOnlySpan<byte> src, Span<float> dst) => DequantizeRowQ45_K(src, dst, 5);
    private static void ToFloatQ6_K(ReadOnlySpan<byte> src, Span<float> dst) => DequantizeRowQ6_K(src, dst);

    private static void ToFloatQ8_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int b = 0; b < dst.Length / QKK; b++)
        {
            var p = src.Slice(b * Q8_KBlockBytes, Q8_KBlockBytes);
            float d = MemoryMarshal.Read<float>(p);
            for (int l = 0; l < QKK; l++) dst[b * QKK + l] = d * (sbyte)p[4 + l];
        }
    }

    // ---------------------------------------------------------------- vec_dot: weight row · partner row, n elements

    private static float VecDotF32(byte* w, byte* x, int n) => TensorPrimitives.Dot(new ReadOnlySpan<float>(w, n), new ReadOnlySpan<float>(x, n));

    private static float VecDotF32Reference(byte* w, byte* x, int n)
    {
        float* wf = (float*)w, xf = (float*)x;
        float v = 0f;
        for (int i = 0; i < n; i++) v += wf[i] * xf[i];
        return v;
    }

    private static float VecDotF16(byte* w, byte* x, int n) => DotF16F32((ushort*)w, (float*)x, n);
    private static float VecDotF16Reference(byte* w, byte* x, int n) => DotF16F32Reference(new ReadOnlySpan<byte>(w, 2 * n), new ReadOnlySpan<float>(x, n));
    private static float VecDotBF16(byte* w, byte* x, int n) => DotBF16F32((ushort*)w, (float*)x, n);
    private static float VecDotBF16Reference(byte* w, byte* x, int n) => DotBF16F32Reference(new ReadOnlySpan<byte>(w, 2 * n), new ReadOnlySpan<float>(x, n));

    private static float VecDotQ8_0(byte* w, byte* x, int n) => DotQ8_0Q8_0(w, x, n / QK);

    private static float VecDotQ8_0Reference(byte* w, byte* x, int n) =>
        DotQ8_0Q8_0Reference(new ReadOnlySpan<byte>(w, n / QK * Q8_0BlockBytes), new ReadOnlySpan<byte>(x, n / QK * Q8_0BlockBytes), n / QK);

    private static float VecDotQ4_0(byte* w, byte* x, int n) => DotQ4_0Q8_0(w, x, n / QK);

    private static float VecDotQ4_0Reference(byte* w, byte* x, int n) =>
        DotQ4_0Q8_0Reference(new ReadOnlySpan<byte>(w, n / QK * Q4_0BlockBytes), new ReadOnlySpan<byte>(x, n / QK * Q8_0BlockBytes), n / QK);

    private static float VecDotQ4_K(byte* w, byte* x, int n) => DotQ45_KQ8_K(w, x, n / QKK, 4);
    private static float VecDotQ4_KReference(byte* w, byte* x, int n) => DotQ45_KReference(w, x, n / QKK, 4);
    private static float VecDotQ5_K(byte* w, byte* x, int n) => DotQ45_KQ8_K(w, x, n / QKK, 5);
    private static float VecDotQ5_KReference(byte* w, byte* x, int n) => DotQ45_KReference(w, x, n / QKK, 5);
    private static float VecDotQ6_K(byte* w, byte* x, int n) => DotQ6_KQ8_K(w, x, n / QKK);
    private static float VecDotQ6_KReference(byte* w, byte* x, int n) => DotQ6_KReference(w, x, n / QKK);
}
