using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RagTune.Engine.Kernels;

// Micro-kernels for MatMul.Forward: register-blocked tiles for T >= 4 (prefill, AVX-512) and one-token row kernels
// for quantized weights (decode, AVX2 + FMA); other instruction sets use the Quant dots per (row, token). Dimension legend as in MatMul.cs (T, K, N), plus
//   blocks  K / 32
//
// A single dot per (row, token) is latency-bound (one FMA chain) and loads two vectors per FMA. Blocking keeps
// several dot products in flight and reuses every load: the F32 tile computes 4 rows x 4 tokens with 16
// accumulators (8 loads per 16 FMAs); the quantized tiles compute 1 row x 4 tokens, so the weight-side work of a
// block (abs and sign mask for Q8_0, nibble unpacking for Q4_0, the scale lookup) is done once for four tokens.

internal static unsafe partial class MatMul
{
    /// <summary>y[tok+j, r+i] for i, j in 0..3: dots of 4 F32 weight rows with 4 activation rows.</summary>
    private static void TileF32x4x4(float* y /*[T, N], at (tok, r)*/, int n, float* w /*[4, K]*/, float* x /*[4, K]*/, int k)
    {
        float* w0 = w, w1 = w + k, w2 = w + 2 * k, w3 = w + 3 * k;
        float* x0 = x, x1 = x + k, x2 = x + 2 * k, x3 = x + 3 * k;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        int i = 0;
        for (; i + 16 <= k; i += 16)
        {
            var v0 = Vector512.Load(x0 + i);
            var v1 = Vector512.Load(x1 + i);
            var v2 = Vector512.Load(x2 + i);
            var v3 = Vector512.Load(x3 + i);
            var u = Vector512.Load(w0 + i);
            a00 = Avx512F.FusedMultiplyAdd(u, v0, a00); a01 = Avx512F.FusedMultiplyAdd(u, v1, a01);
            a02 = Avx512F.FusedMultiplyAdd(u, v2, a02); a03 = Avx512F.FusedMultiplyAdd(u, v3, a03);
            u = Vector512.Load(w1 + i);
            a10 = Avx512F.FusedMultiplyAdd(u, v0, a10); a11 = Avx512F.FusedMultiplyAdd(u, v1, a11);
            a12 = Avx512F.FusedMultiplyAdd(u, v2, a12); a13 = Avx512F.FusedMultiplyAdd(u, v3, a13);
            u = Vector512.Load(w2 + i);
            a20 = Avx512F.FusedMultiplyAdd(u, v0, a20); a21 = Avx512F.FusedMultiplyAdd(u, v1, a21);
            a22 = Avx512F.FusedMultiplyAdd(u, v2, a22); a23 = Avx512F.FusedMultiplyAdd(u, v3, a23);
            u = Vector512.Load(w3 + i);
            a30 = Avx512F.FusedMultiplyAdd(u, v0, a30); a31 = Avx512F.FusedMultiplyAdd(u, v1, a31);
            a32 = Avx512F.FusedMultiplyAdd(u, v2, a32); a33 = Avx512F.FusedMultiplyAdd(u, v3, a33);
        }
        Store4(y, n, 0, Vector512.Sum(a00), Vector512.Sum(a10), Vector512.Sum(a20), Vector512.Sum(a30));
        Store4(y, n, 1, Vector512.Sum(a01), Vector512.Sum(a11), Vector512.Sum(a21), Vector512.Sum(a31));
        Store4(y, n, 2, Vector512.Sum(a02), Vector512.Sum(a12), Vector512.Sum(a22), Vector512.Sum(a32));
        Store4(y, n, 3, Vector512.Sum(a03), Vector512.Sum(a13), Vector512.Sum(a23), Vector512.Sum(a33));
        for (; i < k; i++)
        {
            for (int tj = 0; tj < 4; tj++)
            {
                float xv = x[tj * k + i];
                float* yr = y + (long)tj * n;
                yr[0] += w0[i] * xv; yr[1] += w1[i] * xv; yr[2] += w2[i] * xv; yr[3] += w3[i] * xv;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* y, int n, int tj, float s0, float s1, float s2, float s3)
    {
        float* yr = y + (long)tj * n;
        yr[0] = s0; yr[1] = s1; yr[2] = s2; yr[3] = s3;
    }

    /// <summary>y[tok+j, r] for j in 0..3: one Q8_0 weight row dotted with 4 Q8_0 activation rows.</summary>
    private static void TileQ8_0x4(float* y /*[T, N], at (tok, r)*/, int n, byte* w /*[blocks*34]*/, byte* x /*[4, blocks*34]*/, long xRow,
        float* sx /*[4, blocks*8]*/, int blocks)
    {
        byte* x0 = x, x1 = x + xRow, x2 = x + 2 * xRow, x3 = x + 3 * xRow;
        long sRow = (long)blocks * 8;
        float* s0p = sx, s1p = sx + sRow, s2p = sx + 2 * sRow, s3p = sx + 3 * sRow;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        const int B = Quant.Q8_0BlockBytes;
        int b = 0;
        for (; b + 2 <= blocks; b += 2, w += 2 * B)
        {
            long o = (long)b * B;
            var wv = Vector512.Create(Vector256.Load(w + 2), Vector256.Load(w + 2 + B)).AsSByte();
            var aw = Avx512BW.Abs(wv);
            var neg = Vector512.LessThan(wv, Vector512<sbyte>.Zero);
            var dw = Vector512.Create(Vector256.Create(Quant.ReadHalf(w)), Vector256.Create(Quant.ReadHalf(w + B)));
            a0 = StepQ8_0(aw, neg, dw, x0 + o, s0p + b * 8, a0);
            a1 = StepQ8_0(aw, neg, dw, x1 + o, s1p + b * 8, a1);
            a2 = StepQ8_0(aw, neg, dw, x2 + o, s2p + b * 8, a2);
            a3 = StepQ8_0(aw, neg, dw, x3 + o, s3p + b * 8, a3);
        }
        float s0 = Vector512.Sum(a0), s1 = Vector512.Sum(a1), s2 = Vector512.Sum(a2), s3 = Vector512.Sum(a3);
        if (b < blocks)
        {
            long o = (long)b * B;
            s0 += Quant.DotQ8_0Q8_0(w, x0 + o, 1); s1 += Quant.DotQ8_0Q8_0(w, x1 + o, 1);
            s2 += Quant.DotQ8_0Q8_0(w, x2 + o, 1); s3 += Quant.DotQ8_0Q8_0(w, x3 + o, 1);
        }
        y[0] = s0; y[n] = s1; y[2L * n] = s2; y[3L * n] = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepQ8_0(Vector512<byte> aw, Vector512<sbyte> neg, Vector512<float> dw, byte* x, float* sx, Vector512<float> acc)
    {
        const int B = Quant.Q8_0BlockBytes;
        var xv = Vector512.Create(Vector256.Load(x + 2), Vector256.Load(x + 2 + B)).AsSByte();
        var signed = Vector512.ConditionalSelect(neg, -xv, xv);
        var p32 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(aw, signed), Vector512<short>.One);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), dw * Vector512.Load(sx), acc);
    }

    /// <summary>y[tok+j, r] for j in 0..3: one Q4_0 weight row dotted with 4 Q8_0 activation rows.</summary>
    private static void TileQ4_0x4(float* y /*[T, N], at (tok, r)*/, int n, byte* w /*[blocks*18]*/, byte* x /*[4, blocks*34]*/, long xRow,
        float* sx /*[4, blocks*8]*/, int blocks)
    {
        byte* x0 = x, x1 = x + xRow, x2 = x + 2 * xRow, x3 = x + 3 * xRow;
        long sRow = (long)blocks * 8;
        float* s0p = sx, s1p = sx + sRow, s2p = sx + 2 * sRow, s3p = sx + 3 * sRow;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        const int BW = Quant.Q4_0BlockBytes, BX = Quant.Q8_0BlockBytes;
        var low = Vector512.Create((byte)0x0F);
        int b = 0;
        for (; b + 2 <= blocks; b += 2, w += 2 * BW)
        {
            long o = (long)b * BX;
            var q = Vector512.Create(Nibbles(Vector128.Load(w + 2)), Nibbles(Vector128.Load(w + 2 + BW))) & low;
            var dw = Vector512.Create(Vector256.Create(Quant.ReadHalf(w)), Vector256.Create(Quant.ReadHalf(w + BW)));
            a0 = StepQ4_0(q, dw, x0 + o, s0p + b * 8, a0);
            a1 = StepQ4_0(q, dw, x1 + o, s1p + b * 8, a1);
            a2 = StepQ4_0(q, dw, x2 + o, s2p + b * 8, a2);
            a3 = StepQ4_0(q, dw, x3 + o, s3p + b * 8, a3);
        }
        float s0 = Vector512.Sum(a0), s1 = Vector512.Sum(a1), s2 = Vector512.Sum(a2), s3 = Vector512.Sum(a3);
        if (b < blocks)
        {
            long o = (long)b * BX;
            s0 += Quant.DotQ4_0Q8_0(w, x0 + o, 1); s1 += Quant.DotQ4_0Q8_0(w, x1 + o, 1);
            s2 += Quant.DotQ4_0Q8_0(w, x2 + o, 1); s3 += Quant.DotQ4_0Q8_0(w, x3 + o, 1);
        }
        y[0] = s0; y[n] = s1; y[2L * n] = s2; y[3L * n] = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepQ4_0(Vector512<byte> q, Vector512<float> dw, byte* x, float* sx, Vector512<float> acc)
    {
        const int B = Quant.Q8_0BlockBytes;
        var xv = Vector512.Create(Vector256.Load(x + 2), Vector256.Load(x + 2 + B)).AsSByte();
        // sum((q - 8) x) = sum(q x) - 8 sum(x); both pmaddubsw terms stay far below int16 saturation.
        var p16 = Avx512BW.MultiplyAddAdjacent(q, xv) - Avx512BW.MultiplyAddAdjacent(Vector512.Create((byte)8), xv);
        var p32 = Avx512BW.MultiplyAddAdjacent(p16, Vector512<short>.One);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), dw * Vector512.Load(sx), acc);
    }

    // Decode (one token) kernels. A block's 32 quants are one 256-bit load at a 2-byte offset, so 256-bit
    // vectors take fewer instructions per block than pairing blocks into 512-bit ones (which needs inserts and a
    // compare+blend for the missing 512-bit psignb); they also serve AVX2-only machines.

    /// <summary>One Q8_0 row dotted with one Q8_0 activation row whose scales are pre-expanded (decode path).</summary>
    private static float RowQ8_0(byte* w /*[blocks*34]*/, byte* x /*[blocks*34]*/, float* sx /*[blocks*8]*/, int blocks)
    {
        const int B = Quant.Q8_0BlockBytes;
        Vector256<float> a0 = default, a1 = default;
        int b = 0;
        for (; b + 2 <= blocks; b += 2, w += 2 * B, x += 2 * B, sx += 16)
        {
            a0 = RowStepQ8_0(w, x, sx, a0);
            a1 = RowStepQ8_0(w + B, x + B, sx + 8, a1);
        }
        if (b < blocks) a0 = RowStepQ8_0(w, x, sx, a0);
        return Vector256.Sum(a0 + a1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> RowStepQ8_0(byte* w, byte* x, float* sx, Vector256<float> acc)
    {
        var wv = Vector256.Load(w + 2).AsSByte();
        var xv = Vector256.Load(x + 2).AsSByte();
        var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(wv), Avx2.Sign(xv, wv)), Vector256<short>.One);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(p32), Vector256.Create(Quant.ReadHalf(w)) * Vector256.Load(sx), acc);
    }

    /// <summary>One Q4_0 row dotted with one Q8_0 activation row whose scales are pre-expanded (decode path).</summary>
    private static float RowQ4_0(byte* w /*[blocks*18]*/, byte* x /*[blocks*34]*/, float* sx /*[blocks*8]*/, int blocks)
    {
        const int BW = Quant.Q4_0BlockBytes, BX = Quant.Q8_0BlockBytes;
        Vector256<float> a0 = default, a1 = default;
        int b = 0;
        for (; b + 2 <= blocks; b += 2, w += 2 * BW, x += 2 * BX, sx += 16)
        {
            a0 = RowStepQ4_0(w, x, sx, a0);
            a1 = RowStepQ4_0(w + BW, x + BX, sx + 8, a1);
        }
        if (b < blocks) a0 = RowStepQ4_0(w, x, sx, a0);
        return Vector256.Sum(a0 + a1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> RowStepQ4_0(byte* w, byte* x, float* sx, Vector256<float> acc)
    {
        var q = Nibbles(Vector128.Load(w + 2)) & Vector256.Create((byte)0x0F);
        var xv = Vector256.Load(x + 2).AsSByte();
        var p16 = Avx2.MultiplyAddAdjacent(q, xv) - Avx2.MultiplyAddAdjacent(Vector256.Create((byte)8), xv);
        var p32 = Avx2.MultiplyAddAdjacent(p16, Vector256<short>.One);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(p32), Vector256.Create(Quant.ReadHalf(w)) * Vector256.Load(sx), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(Vector128<byte> raw) =>
        Vector256.Create(raw, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte());
}
