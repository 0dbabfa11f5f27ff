using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   n       elements in the row (F16 / BF16 dots)
//   blocks  32-element blocks in the row (Q8_0 / Q4_0 dots)
//
// Block dots follow ggml's vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0 (ggml-cpu/arch/x86/quants.c): weights are
// dotted with activations quantized to Q8_0, the 32 products of a block are summed in integers, and each block
// costs one float multiply by d_w * d_x. The integer part uses the "sign trick": pmaddubsw multiplies unsigned
// by signed bytes, so |w| is multiplied by x carrying w's sign. Q8_0 never holds -128 (quantization clamps to
// +-127), so neither negation overflows. pmaddubsw pairs stay below 2*127*127 < 32767, so it never saturates.
// Q4_0 uses the offset form instead: nibble q in [0, 15] is unsigned already, and sum((q-8)x) = sum(qx) - 8 sum(x).

internal static unsafe partial class Quant
{
    // ---------------------------------------------------------------- Q8_0 x Q8_0

    /// <summary>Dot product of <paramref name="blocks"/> Q8_0 blocks of weights with Q8_0 activations.</summary>
    public static float DotQ8_0Q8_0(ReadOnlySpan<byte> w /*[blocks*34]*/, ReadOnlySpan<byte> x /*[blocks*34]*/, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q8_0BlockBytes, Q8_0BlockBytes);
        fixed (byte* pw = w)
        fixed (byte* px = x)
            return DotQ8_0Q8_0(pw, px, blocks);
    }

    /// <summary>Scalar reference of <see cref="DotQ8_0Q8_0(ReadOnlySpan{byte}, ReadOnlySpan{byte}, int)"/> (ggml_vec_dot_q8_0_q8_0 generic).</summary>
    public static float DotQ8_0Q8_0Reference(ReadOnlySpan<byte> w /*[blocks*34]*/, ReadOnlySpan<byte> x /*[blocks*34]*/, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q8_0BlockBytes, Q8_0BlockBytes);
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            var wb = w.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            var xb = x.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            int isum = 0;
            for (int j = 0; j < QK; j++) isum += (sbyte)wb[2 + j] * (sbyte)xb[2 + j];
            sum += isum * (Fp16ToFp32(MemoryMarshal.Read<ushort>(wb)) * Fp16ToFp32(MemoryMarshal.Read<ushort>(xb)));
        }
        return sum;
    }

    internal static float DotQ8_0Q8_0(byte* w, byte* x, int blocks)
    {
        if (Avx512BW.IsSupported)
        {
            var acc = Vector512<float>.Zero;
            int b = 0;
            for (; b + 2 <= blocks; b += 2, w += 2 * Q8_0BlockBytes, x += 2 * Q8_0BlockBytes)
            {
                var wv = Vector512.Create(Vector256.Load(w + 2), Vector256.Load(w + 2 + Q8_0BlockBytes)).AsSByte();
                var xv = Vector512.Create(Vector256.Load(x + 2), Vector256.Load(x + 2 + Q8_0BlockBytes)).AsSByte();
                var sx = Vector512.ConditionalSelect(Vector512.LessThan(wv, Vector512<sbyte>.Zero), -xv, xv);
                var p16 = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(wv), sx);
                var p32 = Avx512BW.MultiplyAddAdjacent(p16, Vector512<short>.One);
                var scale = Vector512.Create(
                    Vector256.Create(ReadHalf(w) * ReadHalf(x)),
                    Vector256.Create(ReadHalf(w + Q8_0BlockBytes) * ReadHalf(x + Q8_0BlockBytes)));
                acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), scale, acc);
            }
            float sum = Vector512.Sum(acc);
            if (b < blocks) sum += Vector256.Sum(BlockQ8_0Avx2(w, x));
            return sum;
        }
        if (Avx2.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            for (int b = 0; b < blocks; b++, w += Q8_0BlockBytes, x += Q8_0BlockBytes)
                acc += BlockQ8_0Avx2(w, x);
            return Vector256.Sum(acc);
        }
        if (Ssse3.IsSupported)
        {
            var acc = Vector128<float>.Zero;
            for (int b = 0; b < blocks; b++, w += Q8_0BlockBytes, x += Q8_0BlockBytes)
            {
                var w0 = Vector128.Load(w + 2).AsSByte();
                var w1 = Vector128.Load(w + 18).AsSByte();
                var x0 = Vector128.Load(x + 2).AsSByte();
                var x1 = Vector128.Load(x + 18).AsSByte();
                var p32 = Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(Ssse3.Abs(w0), Ssse3.Sign(x0, w0)), Vector128<short>.One)
                        + Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(Ssse3.Abs(w1), Ssse3.Sign(x1, w1)), Vector128<short>.One);
                acc += Vector128.ConvertToSingle(p32) * Vector128.Create(ReadHalf(w) * ReadHalf(x));
            }
            return Vector128.Sum(acc);
        }
        return DotQ8_0Q8_0Reference(new ReadOnlySpan<byte>(w, blocks * Q8_0BlockBytes), new ReadOnlySpan<byte>(x, blocks * Q8_0BlockBytes), blocks);
    }

    /// <summary>One Q8_0 block pair: 8 float partial sums, already scaled by d_w * d_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockQ8_0Avx2(byte* w, byte* x)
    {
        var wv = Vector256.Load(w + 2).AsSByte();
        var xv = Vector256.Load(x + 2).AsSByte();
        var p16 = Avx2.MultiplyAddAdjacent(Avx2.Abs(wv), Avx2.Sign(xv, wv));
        var p32 = Avx2.MultiplyAddAdjacent(p16, Vector256<short>.One);
        return Avx.ConvertToVector256Single(p32) * Vector256.Create(ReadHalf(w) * ReadHalf(x));
    }

    // ---------------------------------------------------------------- Q4_0 x Q8_0

    /// <summary>Dot product of <paramref name="blocks"/> Q4_0 weight blocks with Q8_0 activations.</summary>
    public static float DotQ4_0Q8_0(ReadOnlySpan<byte> w /*[blocks*18]*/, ReadOnlySpan<byte> x /*[blocks*34]*/, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q4_0BlockBytes, Q8_0BlockBytes);
        fixed (byte* pw = w)
        fixed (byte* px = x)
            return DotQ4_0Q8_0(pw, px, blocks);
    }

    /// <summary>Scalar reference of <see cref="DotQ4_0Q8_0(ReadOnlySpan{byte}, ReadOnlySpan{byte}, int)"/> (ggml_vec_dot_q4_0_q8_0 generic).</summary>
    public static float DotQ4_0Q8_0Reference(ReadOnlySpan<byte> w /*[blocks*18]*/, ReadOnlySpan<byte> x /*[blocks*34]*/, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q4_0BlockBytes, Q8_0BlockBytes);
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            var wb = w.Slice(b * Q4_0BlockBytes, Q4_0BlockBytes);
            var xb = x.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            int isum = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                isum += ((wb[2 + j] & 0x0F) - 8) * (sbyte)xb[2 + j];
                isum += ((wb[2 + j] >> 4) - 8) * (sbyte)xb[2 + j + QK / 2];
            }
            sum += isum * (Fp16ToFp32(MemoryMarshal.Read<ushort>(wb)) * Fp16ToFp32(MemoryMarshal.Read<ushort>(xb)));
        }
        return sum;
    }

    internal static float DotQ4_0Q8_0(byte* w, byte* x, int blocks)
    {
        if (Avx512BW.IsSupported)
        {
            var acc = Vector512<float>.Zero;
            var low = Vector512.Create((byte)0x0F);
            var eight = Vector512.Create((byte)8);
            int b = 0;
            for (; b + 2 <= blocks; b += 2, w += 2 * Q4_0BlockBytes, x += 2 * Q8_0BlockBytes)
            {
                var q = Vector512.Create(Nibbles(Vector128.Load(w + 2)), Nibbles(Vector128.Load(w + 2 + Q4_0BlockBytes))) & low;
                var xv = Vector512.Create(Vector256.Load(x + 2), Vector256.Load(x + 2 + Q8_0BlockBytes)).AsSByte();
                var p16 = Avx512BW.MultiplyAddAdjacent(q, xv) - Avx512BW.MultiplyAddAdjacent(eight, xv);
                var p32 = Avx512BW.MultiplyAddAdjacent(p16, Vector512<short>.One);
                var scale = Vector512.Create(
                    Vector256.Create(ReadHalf(w) * ReadHalf(x)),
                    Vector256.Create(ReadHalf(w + Q4_0BlockBytes) * ReadHalf(x + Q8_0BlockBytes)));
                acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), scale, acc);
            }
            float sum = Vector512.Sum(acc);
            if (b < blocks) sum += Vector256.Sum(BlockQ4_0Avx2(w, x));
            return sum;
        }
        if (Avx2.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            for (int b = 0; b < blocks; b++, w += Q4_0BlockBytes, x += Q8_0BlockBytes)
                acc += BlockQ4_0Avx2(w, x);
            return Vector256.Sum(acc);
        }
        if (Ssse3.IsSupported)
        {
            var acc = Vector128<float>.Zero;
            var low = Vector128.Create((byte)0x0F);
            var eight = Vector128.Create((byte)8);
            for (int b = 0; b < blocks; b++, w += Q4_0BlockBytes, x += Q8_0BlockBytes)
            {
                var raw = Vector128.Load(w + 2);
                var lo = raw & low;                                                  // elements 0..15
                var hi = Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;  // elements 16..31
                var x0 = Vector128.Load(x + 2).AsSByte();
                var x1 = Vector128.Load(x + 18).AsSByte();
                // |each int16 lane| <= 2*(15*128) + 2*(8*128) < 32767: the sum cannot overflow.
                var p16 = Ssse3.MultiplyAddAdjacent(lo, x0) - Ssse3.MultiplyAddAdjacent(eight, x0)
                        + Ssse3.MultiplyAddAdjacent(hi, x1) - Ssse3.MultiplyAddAdjacent(eight, x1);
                var p32 = Sse2.MultiplyAddAdjacent(p16, Vector128<short>.One);
                acc += Vector128.ConvertToSingle(p32) * Vector128.Create(ReadHalf(w) * ReadHalf(x));
            }
            return Vector128.Sum(acc);
        }
        return DotQ4_0Q8_0Reference(new ReadOnlySpan<byte>(w, blocks * Q4_0BlockBytes), new ReadOnlySpan<byte>(x, blocks * Q8_0BlockBytes), blocks);
    }

    /// <summary>16 packed bytes to 32 nibbles in element order: low nibbles (0..15) then high nibbles (16..31); not yet masked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(Vector128<byte> raw) =>
        Vector256.Create(raw, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockQ4_0Avx2(byte* w, byte* x)
    {
        var q = Nibbles(Vector128.Load(w + 2)) & Vector256.Create((byte)0x0F);
        var xv = Vector256.Load(x + 2).AsSByte();
        var p16 = Avx2.MultiplyAddAdjacent(q, xv) - Avx2.MultiplyAddAdjacent(Vector256.Create((byte)8), xv);
        var p32 = Avx2.MultiplyAddAdjacent(p16, Vector256<short>.One);
        return Avx.ConvertToVector256Single(p32) * Vector256.Create(ReadHalf(w) * ReadHalf(x));
    }

    // ---------------------------------------------------------------- F16 / BF16 x F32

    /// <summary>Dot product of an F16 weight row with F32 activations; <paramref name="w"/> holds x.Length halves.</summary>
    public static float DotF16F32(ReadOnlySpan<byte> w /*[n*2]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        if (w.Length < 2L * x.Length) ThrowTooShort(nameof(w), 2L * x.Length, w.Length);
        fixed (byte* pw = w)
        fixed (float* px = x)
            return DotF16F32((ushort*)pw, px, x.Length);
    }

    /// <summary>Scalar reference of <see cref="DotF16F32(ReadOnlySpan{byte}, ReadOnlySpan{float})"/>.</summary>
    public static float DotF16F32Reference(ReadOnlySpan<byte> w /*[n*2]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        var h = MemoryMarshal.Cast<byte, ushort>(w);
        float sum = 0f;
        for (int i = 0; i < x.Length; i++) sum += Fp16ToFp32(h[i]) * x[i];
        return sum;
    }

    /// <summary>Dot product of a BF16 weight row with F32 activations.</summary>
    public static float DotBF16F32(ReadOnlySpan<byte> w /*[n*2]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        if (w.Length < 2L * x.Length) ThrowTooShort(nameof(w), 2L * x.Length, w.Length);
        fixed (byte* pw = w)
        fixed (float* px = x)
            return DotBF16F32((ushort*)pw, px, x.Length);
    }

    /// <summary>Scalar reference of <see cref="DotBF16F32(ReadOnlySpan{byte}, ReadOnlySpan{float})"/>.</summary>
    public static float DotBF16F32Reference(ReadOnlySpan<byte> w /*[n*2]*/, ReadOnlySpan<float> x /*[n]*/)
    {
        var h = MemoryMarshal.Cast<byte, ushort>(w);
        float sum = 0f;
        for (int i = 0; i < x.Length; i++) sum += Bf16ToFp32(h[i]) * x[i];
        return sum;
    }

    // fp16 -> fp32 without F16C (not exposed by .NET): shift the 15 magnitude bits into float position and
    // multiply by 2^112 to rebias the exponent; this is exact for normals and subnormals. Exponent 31 (inf, NaN)
    // is patched to an all-ones float exponent. Then the sign is or-ed back.
    private const uint HalfExpMask = 0x7C00u << 13;
    private const float Pow2To112 = 5.192296858534828e33f;

    internal static float DotF16F32(ushort* w, float* x, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                var h = Vector512.Load(w + i);
                acc0 = Avx512F.FusedMultiplyAdd(HalfToSingle(Vector512.WidenLower(h)), Vector512.Load(x + i), acc0);
                acc1 = Avx512F.FusedMultiplyAdd(HalfToSingle(Vector512.WidenUpper(h)), Vector512.Load(x + i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        if (Vector256.IsHardwareAccelerated && n - i >= 16)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var h = Vector256.Load(w + i);
                acc = MulAdd(HalfToSingle(Vector256.WidenLower(h)), Vector256.Load(x + i), acc);
                acc = MulAdd(HalfToSingle(Vector256.WidenUpper(h)), Vector256.Load(x + i + 8), acc);
            }
            sum += Vector256.Sum(acc);
        }
        if (Vector128.IsHardwareAccelerated && n - i >= 8)
        {
            var acc = Vector128<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var h = Vector128.Load(w + i);
                acc += HalfToSingle(Vector128.WidenLower(h)) * Vector128.Load(x + i);
                acc += HalfToSingle(Vector128.WidenUpper(h)) * Vector128.Load(x + i + 4);
            }
            sum += Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += Fp16ToFp32(w[i]) * x[i];
        return sum;
    }

    internal static float DotBF16F32(ushort* w, float* x, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                var h = Vector512.Load(w + i);
                acc0 = Avx512F.FusedMultiplyAdd((Vector512.WidenLower(h) << 16).AsSingle(), Vector512.Load(x + i), acc0);
                acc1 = Avx512F.FusedMultiplyAdd((Vector512.WidenUpper(h) << 16).AsSingle(), Vector512.Load(x + i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        if (Vector256.IsHardwareAccelerated && n - i >= 16)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var h = Vector256.Load(w + i);
                acc = MulAdd((Vector256.WidenLower(h) << 16).AsSingle(), Vector256.Load(x + i), acc);
                acc = MulAdd((Vector256.WidenUpper(h) << 16).AsSingle(), Vector256.Load(x + i + 8), acc);
            }
            sum += Vector256.Sum(acc);
        }
        if (Vector128.IsHardwareAccelerated && n - i >= 8)
        {
            var acc = Vector128<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var h = Vector128.Load(w + i);
                acc += (Vector128.WidenLower(h) << 16).AsSingle() * Vector128.Load(x + i);
                acc += (Vector128.WidenUpper(h) << 16).AsSingle() * Vector128.Load(x + i + 4);
            }
            sum += Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += Bf16ToFp32(w[i]) * x[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalfToSingle(Vector512<uint> h)
    {
        var o = (h & Vector512.Create(0x7FFFu)) << 13;
        var f = o.AsSingle() * Vector512.Create(Pow2To112);
        var special = Vector512.GreaterThanOrEqual(o, Vector512.Create(HalfExpMask));
        f = Vector512.ConditionalSelect(special.AsSingle(), (o | Vector512.Create(0x7F800000u)).AsSingle(), f);
        return (f.AsUInt32() | ((h & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HalfToSingle(Vector256<uint> h)
    {
        var o = (h & Vector256.Create(0x7FFFu)) << 13;
        var f = o.AsSingle() * Vector256.Create(Pow2To112);
        var special = Vector256.GreaterThanOrEqual(o, Vector256.Create(HalfExpMask));
        f = Vector256.ConditionalSelect(special.AsSingle(), (o | Vector256.Create(0x7F800000u)).AsSingle(), f);
        return (f.AsUInt32() | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> HalfToSingle(Vector128<uint> h)
    {
        var o = (h & Vector128.Create(0x7FFFu)) << 13;
        var f = o.AsSingle() * Vector128.Create(Pow2To112);
        var special = Vector128.GreaterThanOrEqual(o, Vector128.Create(HalfExpMask));
        f = Vector128.ConditionalSelect(special.AsSingle(), (o | Vector128.Create(0x7F800000u)).AsSingle(), f);
        return (f.AsUInt32() | ((h & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>a*b + c, fused where FMA exists (the JIT folds the check away).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    private static void CheckDotBlocks(int wBytes, int xBytes, int blocks, int wBlockBytes, int xBlockBytes)
    {
        if (blocks < 0) throw new ArgumentOutOfRangeException(nameof(blocks), blocks, "Block count must be >= 0.");
        if (wBytes < (long)blocks * wBlockBytes) ThrowTooShort("w", (long)blocks * wBlockBytes, wBytes);
        if (xBytes < (long)blocks * xBlockBytes) ThrowTooShort("x", (long)blocks * xBlockBytes, xBytes);
    }
}
