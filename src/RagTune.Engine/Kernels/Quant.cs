using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   n      elements in a row (a multiple of QK = 32 for the block types)
//   QK     elements per block (32 for Q8_0 and Q4_0; ggml's QK8_0 / QK4_0)
//   blocks n / QK
//
// Block layouts, byte-exact with ggml-common.h:
//   block_q8_0 { ggml_half d; int8_t qs[32]; }        34 bytes, x[j] = qs[j] * d
//   block_q4_0 { ggml_half d; uint8_t qs[16]; }       18 bytes, x[j] = ((qs[j] & 0xF) - 8) * d,
//                                                               x[j+16] = ((qs[j] >> 4) - 8) * d

/// <summary>
/// Conversions between F32 and the storage types the engine computes with (F16, BF16, Q8_0, Q4_0, the K-quants), byte-exact
/// with ggml so GGUF files written here load in llama.cpp and the other way round.
/// </summary>
internal static unsafe partial class Quant
{
    public const int QK = 32;
    public const int Q8_0BlockBytes = 34;
    public const int Q4_0BlockBytes = 18;

    // ---------------------------------------------------------------- half / bfloat16 scalars

    /// <summary>IEEE fp16 bits to float, exact for every input (normals, subnormals, inf, NaN).</summary>
    /// <remarks>Branch-light bit conversion (F. Giesen's "half_to_float"); normals take no branch.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Fp16ToFp32(ushort h)
    {
        const uint ShiftedExp = 0x7C00u << 13;
        uint o = (uint)(h & 0x7FFF) << 13;
        uint exp = o & ShiftedExp;
        o += (127 - 15) << 23;
        if (exp == ShiftedExp)
        {
            o += (128 - 16) << 23;                       // inf / NaN keep an all-ones exponent
        }
        else if (exp == 0)
        {
            o += 1 << 23;                                // subnormal: renormalise through the FPU
            o = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(o) - BitConverter.UInt32BitsToSingle(113u << 23));
        }
        return BitConverter.UInt32BitsToSingle(o | ((uint)(h & 0x8000) << 16));
    }

    /// <summary>Float to fp16 bits, round to nearest even (what ggml's GGML_FP32_TO_FP16 and F16C do).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fp32ToFp16(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    /// <summary>bfloat16 bits to float: the top half of the float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16ToFp32(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    /// <summary>Float to bfloat16, round to nearest even; NaN stays a quiet NaN (ggml_compute_fp32_to_bf16, PyTorch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fp32ToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFFFFFF) > 0x7F800000) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
    }

    // All 65536 fp16 values as floats (256 KiB, never freed), ggml's ggml_table_f32_f16: .NET exposes no F16C
    // instruction, and block scales are read once per block in the hot dot loops, where a load beats the branches
    // of Fp16ToFp32. Scales cluster in a few exponents, so the touched part of the table stays in L1.
    private static readonly float* s_fp16Table = BuildFp16Table();

    private static float* BuildFp16Table()
    {
        var t = (float*)NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int h = 0; h < 65536; h++) t[h] = Fp16ToFp32((ushort)h);
        return t;
    }

    /// <summary>The fp16 at <paramref name="p"/> (a block scale) as a float, by table lookup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ReadHalf(byte* p) => s_fp16Table[Unsafe.ReadUnaligned<ushort>(p)];

    /// <summary>Widens <paramref name="n"/> bfloat16 values to floats (each is the top half of its float).</summary>
    internal static void Bf16ToFp32(ushort* src /*[n]*/, float* dst /*[n]*/, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 32 <= n; i += 32)
            {
                var h = Vector512.Load(src + i);
                (Vector512.WidenLower(h) << 16).AsSingle().Store(dst + i);
                (Vector512.WidenUpper(h) << 16).AsSingle().Store(dst + i + 16);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                var h = Vector256.Load(src + i);
                (Vector256.WidenLower(h) << 16).AsSingle().Store(dst + i);
                (Vector256.WidenUpper(h) << 16).AsSingle().Store(dst + i + 8);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                var h = Vector128.Load(src + i);
                (Vector128.WidenLower(h) << 16).AsSingle().Store(dst + i);
                (Vector128.WidenUpper(h) << 16).AsSingle().Store(dst + i + 4);
            }
        }
        for (; i < n; i++) dst[i] = Bf16ToFp32(src[i]);
    }

    // ---------------------------------------------------------------- quantize

    /// <summary>
    /// Quantizes one row to <paramref name="type"/> (any type with a quantizer in <see cref="Traits"/>), byte-exact
    /// with ggml's <c>quantize_row_*_ref</c> / <c>ggml_fp32_to_fp16_row</c> / <c>ggml_fp32_to_bf16_row_ref</c>.
    /// </summary>
    public static void QuantizeRow(GgmlType type, ReadOnlySpan<float> x /*[n]*/, Span<byte> y /*[RowBytes(n)]*/)
    {
        long need = GgmlTypes.Traits(type).RowBytes(x.Length);
        if (y.Length < need) ThrowTooShort(nameof(y), need, y.Length);
        QuantizeTraits(type).FromFloat(x, y);
    }

    /// <summary>Scalar Q8_0 quantization, exactly ggml's <c>quantize_row_q8_0_ref</c>.</summary>
    public static void QuantizeRowQ8_0Reference(ReadOnlySpan<float> x /*[n]*/, Span<byte> y /*[n/32*34]*/)
    {
        int blocks = CheckBlocks(x.Length, y.Length, Q8_0BlockBytes);
        for (int b = 0; b < blocks; b++)
        {
            var xb = x.Slice(b * QK, QK);
            var yb = y.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            float amax = 0f;
            for (int j = 0; j < QK; j++) amax = MathF.Max(amax, MathF.Abs(xb[j]));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            MemoryMarshal.Write(yb, Fp32ToFp16(d));
            for (int j = 0; j < QK; j++)
                yb[2 + j] = (byte)(sbyte)MathF.Round(xb[j] * id, MidpointRounding.AwayFromZero);  // C roundf
        }
    }

    /// <summary>
    /// Q8_0 quantization, byte-identical to <see cref="QuantizeRowQ8_0Reference"/> (same scale, same
    /// round-half-away-from-zero), vectorised over each 32-element block.
    /// </summary>
    public static void QuantizeRowQ8_0(ReadOnlySpan<float> x /*[n]*/, Span<byte> y /*[n/32*34]*/)
    {
        int blocks = CheckBlocks(x.Length, y.Length, Q8_0BlockBytes);
        if (!Vector256.IsHardwareAccelerated)
        {
            QuantizeRowQ8_0Reference(x, y);
            return;
        }
        fixed (float* px = x)
        fixed (byte* py = y)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* xb = px + b * QK;
                byte* yb = py + b * Q8_0BlockBytes;
                var v0 = Vector256.Load(xb);
                var v1 = Vector256.Load(xb + 8);
                var v2 = Vector256.Load(xb + 16);
                var v3 = Vector256.Load(xb + 24);
                var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
                var h = Vector128.Max(m.GetLower(), m.GetUpper());
                float amax = MathF.Max(MathF.Max(h[0], h[1]), MathF.Max(h[2], h[3]));
                float d = amax / 127f;
                float id = d != 0f ? 1f / d : 0f;
                Unsafe.WriteUnaligned(yb, Fp32ToFp16(d));
                var vid = Vector256.Create(id);
                var i0 = RoundAwayToInt(v0 * vid);
                var i1 = RoundAwayToInt(v1 * vid);
                var i2 = RoundAwayToInt(v2 * vid);
                var i3 = RoundAwayToInt(v3 * vid);
                // Values are within [-127, 127], so narrowing never saturates.
                var s01 = Vector256.Narrow(i0, i1);
                var s23 = Vector256.Narrow(i2, i3);
                Vector256.Narrow(s01, s23).AsByte().Store(yb + 2);
            }
        }
    }

    /// <summary>C's roundf (half away from zero) exactly: |x - trunc(x)| is exact, so compare it with 0.5.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> RoundAwayToInt(Vector256<float> v)
    {
        var t = Vector256.Truncate(v);
        var up = Vector256.GreaterThanOrEqual(Vector256.Abs(v - t), Vector256.Create(0.5f));
        var step = Vector256.CopySign(Vector256<float>.One, v) & up;
        return Vector256.ConvertToInt32(t + step);
    }

    /// <summary>Scalar Q4_0 quantization, exactly ggml's <c>quantize_row_q4_0_ref</c>.</summary>
    public static void QuantizeRowQ4_0Reference(ReadOnlySpan<float> x /*[n]*/, Span<byte> y /*[n/32*18]*/)
    {
        int blocks = CheckBlocks(x.Length, y.Length, Q4_0BlockBytes);
        for (int b = 0; b < blocks; b++)
        {
            var xb = x.Slice(b * QK, QK);
            var yb = y.Slice(b * Q4_0BlockBytes, Q4_0BlockBytes);
            float amax = 0f, max = 0f;
            for (int j = 0; j < QK; j++)
            {
                float v = xb[j];
                if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
            }
            // The largest-magnitude value maps to -8, which uses the full [-8, 7] range (ggml-quants.c).
            float d = max / -8f;
            float id = d != 0f ? 1f / d : 0f;
            MemoryMarshal.Write(yb, Fp32ToFp16(d));
            for (int j = 0; j < QK / 2; j++)
            {
                int q0 = Math.Min(15, (int)(sbyte)(xb[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(sbyte)(xb[j + QK / 2] * id + 8.5f));
                yb[2 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    /// <summary>Q4_0 quantization (only used offline by the model creator and the GGUF writer, so scalar).</summary>
    public static void QuantizeRowQ4_0(ReadOnlySpan<float> x /*[n]*/, Span<byte> y /*[n/32*18]*/) => QuantizeRowQ4_0Reference(x, y);

    // ---------------------------------------------------------------- dequantize

    /// <summary>Expands one row of <paramref name="type"/> (any type with a dequantizer in <see cref="Traits"/>) to floats.</summary>
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> src /*[RowBytes(n)]*/, Span<float> dst /*[n]*/)
    {
        long need = GgmlTypes.Traits(type).RowBytes(dst.Length);
        if (src.Length < need) ThrowTooShort(nameof(src), need, src.Length);
        DequantizeTraits(type).ToFloat(src, dst);
    }

    // ---------------------------------------------------------------- guards

    private static int CheckBlocks(int n, int bytes, int blockBytes)
    {
        if (n % QK != 0) throw new ArgumentException($"A quantized row needs a multiple of {QK} elements, got {n}.", "x");
        int blocks = n / QK;
        if (bytes < blocks * blockBytes) ThrowTooShort("y", (long)blocks * blockBytes, bytes);
        return blocks;
    }

    private static void ThrowTooShort(string name, long need, int have) =>
        throw new ArgumentException($"Buffer '{name}' holds {have} bytes but the row needs {need}.", name);
}
