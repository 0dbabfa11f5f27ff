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
// Forward uses the int8 tiles of MatMul.Tiles.Int8.cs for Q8_0 / Q4_0 by default (MatMul.DefaultQuantTiles); the
// int16 tiles here stay selectable through ForwardWithTiles and are tested against the reference like them.

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

    /// <summary>True when Forward uses the AVX-512 tiles (and PrepareActivations widens the activations for them).</summary>
    private static bool UseTiles(int t) => Avx512BW.IsSupported && t >= 4;

    // The quantized tiles widen int8 to int16 so that one vpmaddwd multiplies a whole 32-element block: the
    // activations are widened once per call (WidenActivations), each weight block once per row and reused for 4
    // tokens. Per block and token that leaves vpmaddwd (memory operand), vcvtdq2ps, vmulps (scale, broadcast from
    // memory) and vfmadd231ps, with no cross-lane shuffles; int16 x int16 pair sums (<= 2 * 127 * 127) cannot overflow.

    /// <summary>Q8_0 activation quants widened to int16, and their scales as floats, for the prefill tiles.</summary>
    private static void WidenActivations(byte* xq /*[blocks*34]*/, short* x16 /*[blocks*32]*/, float* scales /*[blocks]*/, long blocks)
    {
        for (long b = 0; b < blocks; b++)
        {
            byte* blk = xq + b * Quant.Q8_0BlockBytes;
            scales[b] = Quant.ReadHalf(blk);
            Avx512BW.ConvertToVector512Int16(Vector256.Load(blk + 2).AsSByte()).Store(x16 + b * Quant.QK);
        }
    }

    /// <summary>y[tok+j, r] for j in 0..3: one Q8_0 weight row dotted with 4 widened Q8_0 activation rows.</summary>
    private static void TileQ8_0x4(float* y /*[T, N], at (tok, r)*/, int n, byte* w /*[blocks*34]*/, short* x /*[4, K]*/, float* sx /*[4, blocks]*/,
        int k, int blocks)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++, w += Quant.Q8_0BlockBytes)
        {
            var w16 = Avx512BW.ConvertToVector512Int16(Vector256.Load(w + 2).AsSByte());
            var dw = Vector512.Create(Quant.ReadHalf(w));
            short* xb = x + b * Quant.QK;
            a0 = StepTile(w16, dw, xb, sx[b], a0);
            a1 = StepTile(w16, dw, xb + k, sx[blocks + b], a1);
            a2 = StepTile(w16, dw, xb + 2 * k, sx[2 * blocks + b], a2);
            a3 = StepTile(w16, dw, xb + 3 * k, sx[3 * blocks + b], a3);
        }
        y[0] = Vector512.Sum(a0); y[n] = Vector512.Sum(a1); y[2L * n] = Vector512.Sum(a2); y[3L * n] = Vector512.Sum(a3);
    }

    /// <summary>y[tok+j, r] for j in 0..3: one Q4_0 weight row dotted with 4 widened Q8_0 activation rows.</summary>
    private static void TileQ4_0x4(float* y /*[T, N], at (tok, r)*/, int n, byte* w /*[blocks*18]*/, short* x /*[4, K]*/, float* sx /*[4, blocks]*/,
        int k, int blocks)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var low = Vector256.Create((byte)0x0F);
        var eight = Vector512.Create((short)8);
        for (int b = 0; b < blocks; b++, w += Quant.Q4_0BlockBytes)
        {
            var w16 = Avx512BW.ConvertToVector512Int16(Nibbles(Vector128.Load(w + 2)) & low) - eight;
            var dw = Vector512.Create(Quant.ReadHalf(w));
            short* xb = x + b * Quant.QK;
            a0 = StepTile(w16, dw, xb, sx[b], a0);
            a1 = StepTile(w16, dw, xb + k, sx[blocks + b], a1);
            a2 = StepTile(w16, dw, xb + 2 * k, sx[2 * blocks + b], a2);
            a3 = StepTile(w16, dw, xb + 3 * k, sx[3 * blocks + b], a3);
        }
        y[0] = Vector512.Sum(a0); y[n] = Vector512.Sum(a1); y[2L * n] = Vector512.Sum(a2); y[3L * n] = Vector512.Sum(a3);
    }

    /// <summary>
    /// y[tok+j, r+i] for i, j in 0..3: four Q8_0 or Q4_0 weight rows (stride <paramref name="wRow"/> bytes) dotted
    /// with 4 widened activation rows. Four rows share every activation load, which cuts the L2 traffic of
    /// streaming all token rows past each weight row by four (a 64-token block of int16 activations is 73 KiB at
    /// K = 576, more than L1).
    /// </summary>
    private static void TileQuant4x4(float* y /*[T, N], at (tok, r)*/, int n, byte* w /*[4, wRow]*/, long wRow, bool q4,
        short* x /*[4, K]*/, float* sx /*[4, blocks]*/, int k, int blocks)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        int blockBytes = q4 ? Quant.Q4_0BlockBytes : Quant.Q8_0BlockBytes;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = w + (long)b * blockBytes;
            var w0 = WidenWeights(wb, q4);
            var w1 = WidenWeights(wb + wRow, q4);
            var w2 = WidenWeights(wb + 2 * wRow, q4);
            var w3 = WidenWeights(wb + 3 * wRow, q4);
            var d0 = Vector512.Create(Quant.ReadHalf(wb));
            var d1 = Vector512.Create(Quant.ReadHalf(wb + wRow));
            var d2 = Vector512.Create(Quant.ReadHalf(wb + 2 * wRow));
            var d3 = Vector512.Create(Quant.ReadHalf(wb + 3 * wRow));
            short* xb = x + b * Quant.QK;
            float* sb = sx + b;
            Column4(ref a00, ref a10, ref a20, ref a30, w0, w1, w2, w3, d0, d1, d2, d3, xb, sb);
            Column4(ref a01, ref a11, ref a21, ref a31, w0, w1, w2, w3, d0, d1, d2, d3, xb + k, sb + blocks);
            Column4(ref a02, ref a12, ref a22, ref a32, w0, w1, w2, w3, d0, d1, d2, d3, xb + 2 * k, sb + 2 * blocks);
            Column4(ref a03, ref a13, ref a23, ref a33, w0, w1, w2, w3, d0, d1, d2, d3, xb + 3 * k, sb + 3 * blocks);
        }
        Store4(y, n, 0, Vector512.Sum(a00), Vector512.Sum(a10), Vector512.Sum(a20), Vector512.Sum(a30));
        Store4(y, n, 1, Vector512.Sum(a01), Vector512.Sum(a11), Vector512.Sum(a21), Vector512.Sum(a31));
        Store4(y, n, 2, Vector512.Sum(a02), Vector512.Sum(a12), Vector512.Sum(a22), Vector512.Sum(a32));
        Store4(y, n, 3, Vector512.Sum(a03), Vector512.Sum(a13), Vector512.Sum(a23), Vector512.Sum(a33));
    }

    /// <summary>One token's block against four weight rows' blocks: acc_i += (w_i · x) * d_i * d_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Column4(ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3,
        Vector512<short> w0, Vector512<short> w1, Vector512<short> w2, Vector512<short> w3,
        Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3, short* x /*[32]*/, float* dx)
    {
        var xv = Vector512.Load(x);
        var s = Vector512.Create(*dx);
        a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w0, xv)) * d0, s, a0);
        a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w1, xv)) * d1, s, a1);
        a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w2, xv)) * d2, s, a2);
        a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w3, xv)) * d3, s, a3);
    }

    /// <summary>One weight block as 32 int16: Q8_0 sign-extended, Q4_0 nibbles in element order minus 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> WidenWeights(byte* block, bool q4) => q4
        ? Avx512BW.ConvertToVector512Int16(Nibbles(Vector128.Load(block + 2)) & Vector256.Create((byte)0x0F)) - Vector512.Create((short)8)
        : Avx512BW.ConvertToVector512Int16(Vector256.Load(block + 2).AsSByte());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepTile(Vector512<short> w16, Vector512<float> dw, short* x /*[32]*/, float dx, Vector512<float> acc)
    {
        var p32 = Avx512BW.MultiplyAddAdjacent(w16, Vector512.Load(x));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), dw * Vector512.Create(dx), acc);
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
