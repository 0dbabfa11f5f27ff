using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RagTune.Engine.Kernels;

// K-quant weight blocks dotted with Q8_K activation blocks (ggml's ggml_vec_dot_q{4,5,6}_K_q8_K), in integers per
// sub-block, one float multiply per super-block:
//   Q4_K / Q5_K: sum = d_w*d_x * sum_j sc_j * sum_l q_l x_l  -  dmin_w*d_x * sum_j m_j * (bsum_2j + bsum_2j+1)
//   Q6_K:        sum = d_w*d_x * sum_j sc_j * (sum_l u_l x_l - 32 * bsum_j)     (u = q + 32 in [0, 63])
// Integer ranges: pmaddubsw pairs are at most 2*63*127 = 16002 < 32767 (never saturate); pmaddwd by a 6-bit or
// int8 scale stays far inside int32; a whole super-block sum is below 256*63*127*128 < 2^31.
// The AVX2 path is exact in integers, so it differs from the reference only by float summation order.

internal static unsafe partial class Quant
{
    public static float DotQ4_KQ8_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q4_KBlockBytes, Q8_KBlockBytes);
        fixed (byte* pw = w) fixed (byte* px = x) return DotQ45_KQ8_K(pw, px, blocks, 4);
    }

    public static float DotQ5_KQ8_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q5_KBlockBytes, Q8_KBlockBytes);
        fixed (byte* pw = w) fixed (byte* px = x) return DotQ45_KQ8_K(pw, px, blocks, 5);
    }

    public static float DotQ6_KQ8_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q6_KBlockBytes, Q8_KBlockBytes);
        fixed (byte* pw = w) fixed (byte* px = x) return DotQ6_KQ8_K(pw, px, blocks);
    }

    public static float DotQ4_KQ8_KReference(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q4_KBlockBytes, Q8_KBlockBytes);
        fixed (byte* pw = w) fixed (byte* px = x) return DotQ45_KReference(pw, px, blocks, 4);
    }

    public static float DotQ5_KQ8_KReference(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q5_KBlockBytes, Q8_KBlockBytes);
        fixed (byte* pw = w) fixed (byte* px = x) return DotQ45_KReference(pw, px, blocks, 5);
    }

    public static float DotQ6_KQ8_KReference(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        CheckDotBlocks(w.Length, x.Length, blocks, Q6_KBlockBytes, Q8_KBlockBytes);
        fixed (byte* pw = w) fixed (byte* px = x) return DotQ6_KReference(pw, px, blocks);
    }

    // ---------------------------------------------------------------- scalar references

    private static float DotQ45_KReference(byte* w, byte* x, int blocks, int bits)
    {
        int wBytes = bits == 4 ? Q4_KBlockBytes : Q5_KBlockBytes;
        float sum = 0f;
        for (int b = 0; b < blocks; b++, w += wBytes, x += Q8_KBlockBytes)
        {
            float dx = Unsafe.ReadUnaligned<float>(x);
            sbyte* xq = (sbyte*)(x + 4);
            short* bsums = (short*)(x + 4 + QKK);
            byte* qh = w + 16;
            byte* qs = bits == 4 ? w + 16 : w + 48;
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++)
            {
                var (sc, m) = ScaleMinK4(w + 4, j);
                int c = j >> 1, shift = (j & 1) * 4;
                int s = 0;
                for (int l = 0; l < 32; l++)
                {
                    int q = (qs[32 * c + l] >> shift) & 0xF;
                    if (bits == 5) q |= ((qh[l] >> j) & 1) << 4;
                    s += q * xq[32 * j + l];
                }
                sumi += sc * s;
                summ += m * (Unsafe.ReadUnaligned<short>(bsums + 2 * j) + Unsafe.ReadUnaligned<short>(bsums + 2 * j + 1));
            }
            sum += Fp16ToFp32(Unsafe.ReadUnaligned<ushort>(w)) * dx * sumi - Fp16ToFp32(Unsafe.ReadUnaligned<ushort>(w + 2)) * dx * summ;
        }
        return sum;
    }

    private static float DotQ6_KReference(byte* w, byte* x, int blocks)
    {
        float sum = 0f;
        for (int b = 0; b < blocks; b++, w += Q6_KBlockBytes, x += Q8_KBlockBytes)
        {
            float dx = Unsafe.ReadUnaligned<float>(x);
            sbyte* xq = (sbyte*)(x + 4);
            sbyte* sc = (sbyte*)(w + 192);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                int s = 0;
                for (int i = 0; i < 16; i++)
                {
                    int e = 16 * j + i, h = e >> 7, r = e & 127, g = r >> 5, l = r & 31;
                    byte ql = w[64 * h + l + (g & 1) * 32];
                    int lo = (g < 2 ? ql & 0xF : ql >> 4);
                    int hi = (w[128 + 32 * h + l] >> (2 * g)) & 3;
                    s += ((lo | (hi << 4)) - 32) * xq[e];
                }
                sumi += sc[j] * s;
            }
            sum += Fp16ToFp32(Unsafe.ReadUnaligned<ushort>(w + 208)) * dx * sumi;
        }
        return sum;
    }

    // ---------------------------------------------------------------- AVX2 (Vector256)

    private static float DotQ45_KQ8_K(byte* w, byte* x, int blocks, int bits)
    {
        if (!Avx2.IsSupported) return DotQ45_KReference(w, x, blocks, bits);
        int wBytes = bits == 4 ? Q4_KBlockBytes : Q5_KBlockBytes;
        var acc = Vector256<float>.Zero;
        float minSum = 0f;
        var low4 = Vector256.Create((byte)0x0F);
        var sixteen = Vector256.Create((byte)16);
        for (int b = 0; b < blocks; b++, w += wBytes, x += Q8_KBlockBytes)
        {
            float dx = Unsafe.ReadUnaligned<float>(x);
            short* bsums = (short*)(x + 4 + QKK);
            byte* qs = bits == 4 ? w + 16 : w + 48;
            var qhv = bits == 5 ? Vector256.Load(w + 16) : default;
            var isum = Vector256<int>.Zero;
            int summ = 0;
            var (scLo, scHi, mLo, mHi) = ScalesMinsK4(w + 4);
            ulong scs = scLo | ((ulong)scHi << 32), ms = mLo | ((ulong)mHi << 32);
            for (int c = 0; c < 4; c++)
            {
                int s1 = (int)(scs >> (16 * c)) & 0xFF, s2 = (int)(scs >> (16 * c + 8)) & 0xFF;
                int m1 = (int)(ms >> (16 * c)) & 0xFF, m2 = (int)(ms >> (16 * c + 8)) & 0xFF;
                var raw = Vector256.Load(qs + 32 * c);
                var lo = raw & low4;
                var hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low4;
                if (bits == 5)
                {
                    lo |= Vector256.AndNot(sixteen, Vector256.Equals(qhv & Vector256.Create((byte)(1 << (2 * c))), Vector256<byte>.Zero));
                    hi |= Vector256.AndNot(sixteen, Vector256.Equals(qhv & Vector256.Create((byte)(2 << (2 * c))), Vector256<byte>.Zero));
                }
                var x0 = Vector256.Load(x + 4 + 64 * c).AsSByte();
                var x1 = Vector256.Load(x + 4 + 64 * c + 32).AsSByte();
                var p0 = Avx2.MultiplyAddAdjacent(lo, x0);
                var p1 = Avx2.MultiplyAddAdjacent(hi, x1);
                isum += Avx2.MultiplyAddAdjacent(p0, Vector256.Create((short)s1)) + Avx2.MultiplyAddAdjacent(p1, Vector256.Create((short)s2));
                summ += m1 * (bsums[4 * c] + bsums[4 * c + 1]) + m2 * (bsums[4 * c + 2] + bsums[4 * c + 3]);
            }
            acc = MulAdd(Vector256.ConvertToSingle(isum), Vector256.Create(ReadHalf(w) * dx), acc);
            minSum += ReadHalf(w + 2) * dx * summ;
        }
        return Vector256.Sum(acc) - minSum;
    }

    private static float DotQ6_KQ8_K(byte* w, byte* x, int blocks)
    {
        if (!Avx2.IsSupported) return DotQ6_KReference(w, x, blocks);
        var acc = Vector256<float>.Zero;
        var low4 = Vector256.Create((byte)0x0F);
        var m30 = Vector256.Create((byte)0x30);
        for (int b = 0; b < blocks; b++, w += Q6_KBlockBytes, x += Q8_KBlockBytes)
        {
            float dx = Unsafe.ReadUnaligned<float>(x);
            sbyte* sc = (sbyte*)(w + 192);
            short* bsums = (short*)(x + 4 + QKK);
            var isum = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var qlA = Vector256.Load(w + 64 * h);
                var qlB = Vector256.Load(w + 64 * h + 32);
                var qh = Vector256.Load(w + 128 + 32 * h);
                var qh16 = qh.AsUInt16();
                var u0 = (qlA & low4) | (Vector256.ShiftLeft(qh16, 4).AsByte() & m30);
                var u1 = (qlB & low4) | (Vector256.ShiftLeft(qh16, 2).AsByte() & m30);
                var u2 = (Vector256.ShiftRightLogical(qlA.AsUInt16(), 4).AsByte() & low4) | (qh & m30);
                var u3 = (Vector256.ShiftRightLogical(qlB.AsUInt16(), 4).AsByte() & low4) | (Vector256.ShiftRightLogical(qh16, 2).AsByte() & m30);
                byte* xg = x + 4 + 128 * h;
                int s0 = 8 * h;                   // sub-block of the first 16 elements of this half
                isum += Group6(u0, xg, sc, s0) + Group6(u1, xg + 32, sc, s0 + 2) + Group6(u2, xg + 64, sc, s0 + 4) + Group6(u3, xg + 96, sc, s0 + 6);
            }
            // sum_j sc_j * (sum u x - 32 bsum_j): the offset term as 8 pair sums of bsum_j * sc_j.
            var off = Avx2.MultiplyAddAdjacent(Vector256.Load(bsums), Avx2.ConvertToVector256Int16(sc));
            var total = Vector256.ConvertToSingle(isum - Vector256.ShiftLeft(off, 5));
            acc = MulAdd(total, Vector256.Create(ReadHalf(w + 208) * dx), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>
    /// All 8 scales and 8 mins of a Q4_K / Q5_K block at once, one byte each (sub-blocks 0-3 in the Lo words, 4-7 in
    /// the Hi words), branch-free; the same unpacking as <see cref="ScaleMinK4"/> done on 32-bit words.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (uint ScLo, uint ScHi, uint MLo, uint MHi) ScalesMinsK4(byte* s)
    {
        uint a0 = Unsafe.ReadUnaligned<uint>(s), a1 = Unsafe.ReadUnaligned<uint>(s + 4), a2 = Unsafe.ReadUnaligned<uint>(s + 8);
        return (a0 & 0x3F3F3F3Fu,
                (a2 & 0x0F0F0F0Fu) | (((a0 >> 6) & 0x03030303u) << 4),
                a1 & 0x3F3F3F3Fu,
                ((a2 >> 4) & 0x0F0F0F0Fu) | (((a1 >> 6) & 0x03030303u) << 4));
    }

    /// <summary>32 unsigned 6-bit weights (two 16-wide sub-blocks s, s+1) times 32 Q8_K quants, scaled, as 8 int32 partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group6(Vector256<byte> u, byte* x, sbyte* sc, int s)
    {
        var p = Avx2.MultiplyAddAdjacent(u, Vector256.Load(x).AsSByte());
        var scales = Vector256.Create(Vector128.Create((short)sc[s]), Vector128.Create((short)sc[s + 1]));
        return Avx2.MultiplyAddAdjacent(p, scales);
    }
}
