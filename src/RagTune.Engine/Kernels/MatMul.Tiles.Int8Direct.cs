using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RagTune.Engine.Kernels;

// Direct int8 tiles (AVX-512 BW) for short token blocks: the products of MatMul.Tiles.Int8.cs, with each 4-row
// weight panel prepared in registers from the GGUF blocks instead of packed to memory. Legend as there (blocks,
// pairs, Kp), plus
//   wRow  bytes of one GGUF weight row
//
// Per block pair and row the weight side is two 256-bit loads joined into one register, |w| and the sign mask (Q8_0)
// or the nibbles (Q4_0), and the two block scales broadcast to 8 lanes each; it is done once per 4 tokens and never
// stored. The token side is what the panel tiles do: vpmaddubsw + vpmaddwd, then the float tail. Everything is
// rounded as in the one-token decode rows (RowQ8_0 / RowQ4_0, whose two 8-lane accumulators are this tile's lane
// halves): the same integer block sums (Q4_0's "- 8" subtracted in integers, Σ 8·x once per token), scaled by
// dw * dx, fused-added per block, the halves added and then summed. So a decode step of 2 to 4 sequences on these
// tiles gives each the logits it gets alone, to the bit (Q4_0 by default; MatMul.UseDirectTiles says when).
// Missing rows of a ragged last panel read row 0 again (memory that exists) and are not stored; a last group of
// fewer than 4 tokens skips the missing ones (a batched decode step of 2 or 3 sequences is one such group).

internal static unsafe partial class MatMul
{
    /// <summary>
    /// y[tok+j, r+i] for i &lt; <paramref name="rows"/>, j &lt; <paramref name="tokens"/> (1..4): Q8_0 weight rows read from their GGUF blocks,
    /// dotted with 4 int8 activation rows (x [4, Kp], scales [4, pairs*16]).
    /// </summary>
    private static void TileQ8_0Direct(float* y /*[T, N], at (tok, r)*/, int n, int rows, int tokens, byte* w /*[rows, wRow]*/, long wRow, sbyte* x, float* dx, int blocks)
    {
        // Two rows at a time: 8 accumulators and each row's |w|, sign mask and scales stay in registers (4 rows'
        // worth spilled and measured slower than the decode rows at 2 tokens).
        TileQ8_0Direct2(y, n, tokens, w, rows > 1 ? w + wRow : w, x, dx, blocks, Math.Min(rows, 2));
        if (rows > 2) TileQ8_0Direct2(y + 2, n, tokens, w + 2 * wRow, rows > 3 ? w + 3 * wRow : w + 2 * wRow, x, dx, blocks, rows - 2);
    }

    private static void TileQ8_0Direct2(float* y /*[T, N], at (tok, r)*/, int n, int tokens, byte* w0, byte* w1, sbyte* x, float* dx, int blocks, int rows)
    {
        int pairs = Pairs(blocks), kp = pairs * 64, ds = pairs * 16;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        for (int p = 0; p < pairs; p++)
        {
            long o = (long)p * 2 * Quant.Q8_0BlockBytes;
            bool second = 2 * p + 1 < blocks;
            var (u0, m0, d0) = WeightsQ8_0(w0 + o, second);
            var (u1, m1, d1) = WeightsQ8_0(w1 + o, second);
            int xo = p * 64, so = p * 16;
            DirectQ8_0(ref a00, ref a10, u0, u1, m0, m1, d0, d1, x + xo, dx + so);
            if (tokens < 2) continue;
            DirectQ8_0(ref a01, ref a11, u0, u1, m0, m1, d0, d1, x + kp + xo, dx + ds + so);
            if (tokens < 3) continue;
            DirectQ8_0(ref a02, ref a12, u0, u1, m0, m1, d0, d1, x + 2 * kp + xo, dx + 2 * ds + so);
            if (tokens < 4) continue;
            DirectQ8_0(ref a03, ref a13, u0, u1, m0, m1, d0, d1, x + 3 * kp + xo, dx + 3 * ds + so);
        }
        StoreDirect2(y, n, 0, rows, a00, a10);
        if (tokens > 1) StoreDirect2(y, n, 1, rows, a01, a11);
        if (tokens > 2) StoreDirect2(y, n, 2, rows, a02, a12);
        if (tokens > 3) StoreDirect2(y, n, 3, rows, a03, a13);
    }

    /// <summary>A Q8_0 row's block pair at <paramref name="blk"/>: |w|, the mask of w &lt; 0, and [dw_0 x8, dw_1 x8].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<byte> U, Vector512<sbyte> Negative, Vector512<float> Scales) WeightsQ8_0(byte* blk, bool second)
    {
        var lo = Vector256.Load((sbyte*)blk + 2);
        var hi = second ? Vector256.Load((sbyte*)blk + Quant.Q8_0BlockBytes + 2) : Vector256<sbyte>.Zero;
        var v = Vector512.Create(lo, hi);
        var d = Vector512.Create(Vector256.Create(Quant.ReadHalf(blk)), Vector256.Create(second ? Quant.ReadHalf(blk + Quant.Q8_0BlockBytes) : 0f));
        return (Avx512BW.Abs(v), Vector512.LessThan(v, Vector512<sbyte>.Zero), d);
    }

    /// <summary>One token's block pair against two Q8_0 rows: acc_i += Σ |w_i| · (x signed like w_i) ⊙ (dw_i ⊙ dx).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DirectQ8_0(ref Vector512<float> a0, ref Vector512<float> a1, Vector512<byte> u0, Vector512<byte> u1,
        Vector512<sbyte> m0, Vector512<sbyte> m1, Vector512<float> d0, Vector512<float> d1, sbyte* x /*[64]*/, float* dx /*[16]*/)
    {
        var xv = Vector512.Load(x);
        var xnv = Vector512<sbyte>.Zero - xv;
        var e = Vector512.Load(dx);
        a0 = Avx512F.FusedMultiplyAdd(PairSums(u0, Vector512.ConditionalSelect(m0, xnv, xv)), d0 * e, a0);
        a1 = Avx512F.FusedMultiplyAdd(PairSums(u1, Vector512.ConditionalSelect(m1, xnv, xv)), d1 * e, a1);
    }

    /// <summary>
    /// y[tok+j, r+i] for i &lt; <paramref name="rows"/>, j &lt; <paramref name="tokens"/> (1..4): Q4_0 weight rows read from their GGUF blocks,
    /// dotted with 4 int8 activation rows (x [4, Kp], scales and "- 8" corrections [4, pairs*16]).
    /// </summary>
    private static void TileQ4_0Direct(float* y /*[T, N], at (tok, r)*/, int n, int rows, int tokens, byte* w /*[rows, wRow]*/, long wRow, sbyte* x, float* dx, int blocks)
    {
        int pairs = Pairs(blocks), kp = pairs * 64, ds = pairs * 16;
        byte* w0 = w, w1 = rows > 1 ? w + wRow : w, w2 = rows > 2 ? w + 2 * wRow : w, w3 = rows > 3 ? w + 3 * wRow : w;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int p = 0; p < pairs; p++)
        {
            long o = (long)p * 2 * Quant.Q4_0BlockBytes;
            bool second = 2 * p + 1 < blocks;
            var (u0, d0) = WeightsQ4_0(w0 + o, second);
            var (u1, d1) = WeightsQ4_0(w1 + o, second);
            var (u2, d2) = WeightsQ4_0(w2 + o, second);
            var (u3, d3) = WeightsQ4_0(w3 + o, second);
            int xo = p * 64, so = p * 16;
            DirectQ4_0(ref a00, ref a10, ref a20, ref a30, u0, u1, u2, u3, d0, d1, d2, d3, x + xo, dx + so);
            if (tokens < 2) continue;
            DirectQ4_0(ref a01, ref a11, ref a21, ref a31, u0, u1, u2, u3, d0, d1, d2, d3, x + kp + xo, dx + ds + so);
            if (tokens < 3) continue;
            DirectQ4_0(ref a02, ref a12, ref a22, ref a32, u0, u1, u2, u3, d0, d1, d2, d3, x + 2 * kp + xo, dx + 2 * ds + so);
            if (tokens < 4) continue;
            DirectQ4_0(ref a03, ref a13, ref a23, ref a33, u0, u1, u2, u3, d0, d1, d2, d3, x + 3 * kp + xo, dx + 3 * ds + so);
        }
        StoreDirect(y, n, 0, rows, a00, a10, a20, a30);
        if (tokens > 1) StoreDirect(y, n, 1, rows, a01, a11, a21, a31);
        if (tokens > 2) StoreDirect(y, n, 2, rows, a02, a12, a22, a32);
        if (tokens > 3) StoreDirect(y, n, 3, rows, a03, a13, a23, a33);
    }

    /// <summary>A Q4_0 row's block pair at <paramref name="blk"/>: the nibbles q = w + 8 as bytes, and [dw_0 x8, dw_1 x8].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<byte> U, Vector512<float> Scales) WeightsQ4_0(byte* blk, bool second)
    {
        var mask = Vector256.Create((byte)0x0F);
        var lo = Nibbles(Vector128.Load(blk + 2)) & mask;
        var hi = second ? Nibbles(Vector128.Load(blk + Quant.Q4_0BlockBytes + 2)) & mask : Vector256<byte>.Zero;
        var d = Vector512.Create(Vector256.Create(Quant.ReadHalf(blk)), Vector256.Create(second ? Quant.ReadHalf(blk + Quant.Q4_0BlockBytes) : 0f));
        return (Vector512.Create(lo, hi), d);
    }

    /// <summary>One token's block pair against four Q4_0 rows: acc_i += (Σ q_i · x - Σ 8 · x) ⊙ (dw_i ⊙ dx), the "- 8" in integers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DirectQ4_0(ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3,
        Vector512<byte> u0, Vector512<byte> u1, Vector512<byte> u2, Vector512<byte> u3,
        Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3, sbyte* x /*[64]*/, float* dx /*[16]*/)
    {
        var xv = Vector512.Load(x);
        var e = Vector512.Load(dx);
        var eights = PairSumsInt(Vector512.Create((byte)8), xv);
        a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSumsInt(u0, xv) - eights), d0 * e, a0);
        a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSumsInt(u1, xv) - eights), d1 * e, a1);
        a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSumsInt(u2, xv) - eights), d2 * e, a2);
        a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSumsInt(u3, xv) - eights), d3 * e, a3);
    }

    /// <summary>u8 x s8 over 64 pairs -> 16 int lanes, lanes 0-7 summing the first block, 8-15 the second.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PairSumsInt(Vector512<byte> u, Vector512<sbyte> x) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, x), Vector512<short>.One);

    /// <summary>
    /// A tile accumulator's sum: its two lane halves added, then summed, as the decode rows add their two 8-lane
    /// accumulators (RowQ8_0 / RowQ4_0), so the results are theirs to the bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HalvesSum(Vector512<float> a) => Vector256.Sum(a.GetLower() + a.GetUpper());

    /// <summary>y[tok+j, r..r+1] (the first <paramref name="rows"/>) from the accumulators of token j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreDirect2(float* y, int n, int tj, int rows, Vector512<float> a0, Vector512<float> a1)
    {
        float* yr = y + (long)tj * n;
        yr[0] = HalvesSum(a0);
        if (rows > 1) yr[1] = HalvesSum(a1);
    }

    /// <summary>y[tok+j, r..r+3] (the first <paramref name="rows"/>) from the accumulators of token j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreDirect(float* y, int n, int tj, int rows, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3) =>
        StoreRows(y, n, tj, rows, HalvesSum(a0), HalvesSum(a1), HalvesSum(a2), HalvesSum(a3));
}
