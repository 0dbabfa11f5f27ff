using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RagTune.Engine.Kernels;

// Int8 prefill tiles (AVX-512 BW, T >= 4) for Q8_0 / Q4_0 weights. Dimension legend as in MatMul.cs, plus
//   blocks  K / 32
//   pairs   ceil(blocks / 2): two 32-element blocks fill one 512-bit register of int8
//   Kp      pairs * 64: a row of int8 padded with zeros to whole block pairs
//   B16     blocks rounded up to 16: one float per block, padded to whole 512-bit vectors
//
// vpmaddubsw (u8 x s8 -> s16 pair sums) multiplies 64 int8 pairs per instruction, twice what vpmaddwd does on int8
// widened to int16; vpmaddwd with ones then sums the s16 pairs to s32, giving 8 lanes per block and two blocks per
// register. Per (row, token) and block pair that is vpmaddubsw + vpmaddwd + vcvtdq2ps + vmulps (the 16-lane
// dw * dx scale vector) + vfmadd: 5 instructions for 64 multiply-adds (6 for Q8_0, with the sign select below),
// against 8 for the int16 tiles. Measured one thread, T = 64, SmolLM2-135M shapes on a shared Zen 5 box
// (MatMulPerfCheck.QuantTilesThroughput): Q8_0 1.1-1.2x, Q4_0 1.3-1.4x the int16 tiles; the float tail
// (cvt, mul, fma on 16 lanes that hold only 2 block sums) is what remains, and VNNI (vpdpbusd) is not exposed.
//
// vpmaddubsw needs one unsigned operand, and its s16 pair sums saturate above 32767:
// - Q4_0: the nibbles q = w + 8 are 0..15, used unsigned as they are (2 * 15 * 127 = 3810). The "- 8" becomes a
//   correction per (row, token), Σ_b dw_b * (8 * dx_b * Σ x_b), a dot over blocks (1/32 of the work) with the
//   activation factor prepared once per call and the weight scales once per panel.
// - Q8_0: the abs/sign trick, |w| · (x with w's sign). AVX-512 has no vpsignb, so the sign is a byte mask (w < 0)
//   and a bitwise select between x and -x (vpternlogd), with -x formed once per token and block pair (in registers:
//   loading a stored copy measured slower, the activation stream is what K = 1536 is bound by) and |w| and the mask
//   once per 4-row panel. |w| <= 128 (|-128| is 0x80, read unsigned) and |x| <= 127 (QuantizeRowQ8_0 never gives -128,
//   so -x fits), so 2 * 128 * 127 = 32512 cannot saturate.
//
// The GGUF blocks interleave scales with quants, so two blocks are never contiguous: the activations are repacked
// once per call into the scratch (MatMul.Layout: X8, XC; the block scales reuse Scales8, which already repeats
// each scale 8 times, padded to whole pairs), the weights once per 4-row panel into a per-thread buffer that stays
// in L1 while the token rows stream past (the panel is re-packed once per 64-token block).

internal static unsafe partial class MatMul
{
    /// <summary>Which AVX-512 prefill tiles <see cref="Forward"/> uses for Q8_0 / Q4_0 weights.</summary>
    internal enum QuantTiles
    {
        /// <summary>int8 widened to int16, vpmaddwd per block (TileQuant4x4, TileQ8_0x4, TileQ4_0x4).</summary>
        Int16,
        /// <summary>
        /// vpmaddubsw on block pairs, the weights read as the batch size suits: the GGUF blocks directly for a
        /// few Q4_0 tokens (<see cref="UseDirectTiles"/>), else packed panels.
        /// </summary>
        Int8,
        /// <summary>The int8 tiles on packed panels at every batch size (TileQ8_0Int8, TileQ4_0Int8).</summary>
        Int8Panel,
        /// <summary>The int8 tiles on the GGUF blocks at every batch size (TileQ8_0Direct, TileQ4_0Direct).</summary>
        Int8Direct,
    }

    /// <summary>
    /// Q4_0 token blocks shorter than this use the direct int8 tiles: a batched decode step of 2 to 4 sequences. A
    /// panel is packed once per 4 rows and 64-token block, and for a handful of tokens the packing cost as much as the
    /// products it served (SmolLM2-135M Q8_0's matrix products at 4 tokens: 10.8 ms per step with packing, 6.1 ms with
    /// it skipped). From 5 tokens the direct tiles read each panel for a second token group, which measured no faster
    /// than packing (BatchedDecodePerfCheck.MatMulPerBatchSize, docs/benchmarks.md).
    /// </summary>
    internal const int DirectTilesBelow = 5;

    /// <summary>
    /// True when a block of <paramref name="tokens"/> tokens runs on the direct int8 tiles: Q4_0 from 2 tokens below
    /// <see cref="DirectTilesBelow"/> (one token stays with the decode rows, which stream the weights at memory speed),
    /// or any type and count from 2 when they are asked for. Q8_0 stays on the decode rows and packed panels by
    /// default: over weights streaming from memory its direct tiles measured between 1.35x faster and 1.35x slower
    /// than those from run to run (a 2-core VM whose speed drifts), while Q4_0's were 1.2-1.7x faster in every run.
    /// </summary>
    private static bool UseDirectTiles(int tokens, QuantTiles tiles, bool q4) =>
        Avx512BW.IsSupported && tokens >= 2 && (tiles == QuantTiles.Int8Direct || (tiles == QuantTiles.Int8 && q4 && tokens < DirectTilesBelow));

    [ThreadStatic] private static byte[]? t_panel;   // one 4-row weight panel for the int8 tiles, grown on demand

    private static int Pairs(int blocks) => (blocks + 1) >> 1;

    private static int Blocks16(int blocks) => (blocks + 15) & ~15;

    /// <summary>
    /// Bytes of one packed 4-row panel: the unsigned weight operand [4, Kp] (|w| or the Q4_0 nibbles), the Q8_0 sign
    /// masks [4, Kp], the weight block scales repeated 8 times [4, pairs*16] floats, and (Q4_0) once [4, B16] floats.
    /// </summary>
    private static int PanelBytes(int blocks) => 4 * (2 * Pairs(blocks) * 64 + Pairs(blocks) * 16 * sizeof(float) + Blocks16(blocks) * sizeof(float));

    /// <summary>The calling thread's panel buffer, 64-byte aligned (allocates only the first time, or when K grows).</summary>
    private static byte* PanelBuffer(int blocks, out byte[] buffer)
    {
        int need = PanelBytes(blocks) + 64;
        buffer = t_panel!;
        if (buffer is null || buffer.Length < need) t_panel = buffer = GC.AllocateUninitializedArray<byte>(need, pinned: true);
        byte* p = (byte*)Unsafe.AsPointer(ref buffer[0]);   // pinned: the address is stable
        return (byte*)(((nint)p + 63) & ~(nint)63);
    }

    /// <summary>
    /// The activations for the int8 tiles, from the Q8_0 copy: the quants as contiguous int8 rows [T, Kp] (X8), and
    /// for Q4_0 weights 8 * dx_b * Σ x_b [T, B16] (XC); zero padded.
    /// </summary>
    private static void PrepareInt8Activations(byte* xq /*[T, blocks*34]*/, bool q4, int k, int t, byte* scratch)
    {
        var layout = Layout(k, t);
        int blocks = k / Quant.QK, kp = Pairs(blocks) * 64, b16 = Blocks16(blocks);
        for (int tok = 0; tok < t; tok++)
        {
            sbyte* x8 = (sbyte*)(scratch + layout.X8) + (long)tok * kp;
            float* xc = (float*)(scratch + layout.XC) + (long)tok * b16;
            byte* blk = xq + (long)tok * blocks * Quant.Q8_0BlockBytes;
            for (int b = 0; b < blocks; b++, blk += Quant.Q8_0BlockBytes)
            {
                var v = Vector256.Load((sbyte*)blk + 2);
                v.Store(x8 + b * Quant.QK);
                if (q4)
                {
                    var sum = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256<byte>.One, v), Vector256<short>.One);
                    xc[b] = 8f * Quant.ReadHalf(blk) * Vector256.Sum(sum);
                }
            }
            if ((blocks & 1) != 0) Vector256<sbyte>.Zero.Store(x8 + blocks * Quant.QK);
            if (q4) new Span<float>(xc + blocks, b16 - blocks).Clear();
        }
    }

    /// <summary>
    /// Packs <paramref name="rows"/> (1..4) Q8_0 or Q4_0 weight rows into a panel (layout at <see cref="PanelBytes"/>);
    /// missing rows are zero, so the 4x4 tile computes zeros for them.
    /// </summary>
    private static void PackPanel(byte* panel, byte* w /*[rows, wRow]*/, long wRow, int rows, bool q4, int blocks)
    {
        int pairs = Pairs(blocks), kp = pairs * 64, b16 = Blocks16(blocks);
        byte* u = panel, sign = panel + 4 * kp;
        float* dw = (float*)(panel + 8 * kp), dc = dw + 4 * pairs * 16;
        for (int i = 0; i < 4; i++)
        {
            byte* ui = u + i * kp, si = sign + i * kp;
            float* di = dw + i * pairs * 16, ci = dc + i * b16;
            if (i >= rows)
            {
                new Span<byte>(ui, kp).Clear();
                new Span<float>(di, pairs * 16).Clear();
                new Span<float>(ci, b16).Clear();
                continue;
            }
            byte* blk = w + i * wRow;
            for (int b = 0; b < blocks; b++)
            {
                float d = Quant.ReadHalf(blk);
                Vector256.Create(d).Store(di + b * 8);
                if (q4)
                {
                    ci[b] = d;
                    (Nibbles(Vector128.Load(blk + 2)) & Vector256.Create((byte)0x0F)).Store(ui + b * Quant.QK);
                    blk += Quant.Q4_0BlockBytes;
                }
                else
                {
                    var v = Vector256.Load((sbyte*)blk + 2);
                    Avx2.Abs(v).Store(ui + b * Quant.QK);
                    Vector256.LessThan(v, Vector256<sbyte>.Zero).AsByte().Store(si + b * Quant.QK);
                    blk += Quant.Q8_0BlockBytes;
                }
            }
            if ((blocks & 1) != 0)
            {
                Vector256<byte>.Zero.Store(ui + blocks * Quant.QK);
                Vector256<float>.Zero.Store(di + blocks * 8);
            }
            if (q4) new Span<float>(ci + blocks, b16 - blocks).Clear();
        }
    }

    /// <summary>
    /// y[tok+j, r+i] for i &lt; <paramref name="rows"/>, j in 0..3: a packed Q8_0 panel dotted with 4 int8
    /// activation rows (x [4, Kp], scales [4, pairs*16]).
    /// </summary>
    private static void TileQ8_0Int8(float* y /*[T, N], at (tok, r)*/, int n, int rows, byte* panel, sbyte* x, float* dx, int pairs)
    {
        int kp = pairs * 64, ds = pairs * 16;
        byte* u = panel, sign = panel + 4 * kp;
        float* dw = (float*)(panel + 8 * kp);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int p = 0; p < pairs; p++)
        {
            int o = p * 64, s = p * 16;
            var u0 = Vector512.Load(u + o);
            var u1 = Vector512.Load(u + kp + o);
            var u2 = Vector512.Load(u + 2 * kp + o);
            var u3 = Vector512.Load(u + 3 * kp + o);
            byte* m = sign + o;
            float* d = dw + s;
            TokenQ8_0(ref a00, ref a10, ref a20, ref a30, u0, u1, u2, u3, m, kp, d, ds, x + o, dx + s);
            TokenQ8_0(ref a01, ref a11, ref a21, ref a31, u0, u1, u2, u3, m, kp, d, ds, x + kp + o, dx + ds + s);
            TokenQ8_0(ref a02, ref a12, ref a22, ref a32, u0, u1, u2, u3, m, kp, d, ds, x + 2 * kp + o, dx + 2 * ds + s);
            TokenQ8_0(ref a03, ref a13, ref a23, ref a33, u0, u1, u2, u3, m, kp, d, ds, x + 3 * kp + o, dx + 3 * ds + s);
        }
        StoreRows(y, n, 0, rows, Vector512.Sum(a00), Vector512.Sum(a10), Vector512.Sum(a20), Vector512.Sum(a30));
        StoreRows(y, n, 1, rows, Vector512.Sum(a01), Vector512.Sum(a11), Vector512.Sum(a21), Vector512.Sum(a31));
        StoreRows(y, n, 2, rows, Vector512.Sum(a02), Vector512.Sum(a12), Vector512.Sum(a22), Vector512.Sum(a32));
        StoreRows(y, n, 3, rows, Vector512.Sum(a03), Vector512.Sum(a13), Vector512.Sum(a23), Vector512.Sum(a33));
    }

    /// <summary>One token's block pair against four rows: acc_i += Σ |w_i| · (x signed like w_i) * dw_i * dx.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenQ8_0(ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3,
        Vector512<byte> u0, Vector512<byte> u1, Vector512<byte> u2, Vector512<byte> u3, byte* m /*[4, Kp] at the pair*/, int kp,
        float* dw /*[4, pairs*16] at the pair*/, int ds, sbyte* x /*[64]*/, float* dx /*[16]*/)
    {
        var xv = Vector512.Load(x);
        var xnv = Vector512<sbyte>.Zero - xv;
        var e = Vector512.Load(dx);
        a0 = Avx512F.FusedMultiplyAdd(PairSums(u0, Vector512.ConditionalSelect(Vector512.Load((sbyte*)m), xnv, xv)), Vector512.Load(dw) * e, a0);
        a1 = Avx512F.FusedMultiplyAdd(PairSums(u1, Vector512.ConditionalSelect(Vector512.Load((sbyte*)m + kp), xnv, xv)), Vector512.Load(dw + ds) * e, a1);
        a2 = Avx512F.FusedMultiplyAdd(PairSums(u2, Vector512.ConditionalSelect(Vector512.Load((sbyte*)m + 2 * kp), xnv, xv)), Vector512.Load(dw + 2 * ds) * e, a2);
        a3 = Avx512F.FusedMultiplyAdd(PairSums(u3, Vector512.ConditionalSelect(Vector512.Load((sbyte*)m + 3 * kp), xnv, xv)), Vector512.Load(dw + 3 * ds) * e, a3);
    }

    /// <summary>
    /// y[tok+j, r+i] for i &lt; <paramref name="rows"/>, j in 0..3: a packed Q4_0 panel dotted with 4 int8
    /// activation rows (x [4, Kp], scales [4, pairs*16], "- 8" corrections [4, B16]).
    /// </summary>
    private static void TileQ4_0Int8(float* y /*[T, N], at (tok, r)*/, int n, int rows, byte* panel, sbyte* x, float* dx, float* xc, int pairs, int b16)
    {
        int kp = pairs * 64, ds = pairs * 16;
        byte* u = panel;
        float* dw = (float*)(panel + 8 * kp), dc = dw + 4 * ds;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int p = 0; p < pairs; p++)
        {
            int o = p * 64, s = p * 16;
            var u0 = Vector512.Load(u + o);
            var u1 = Vector512.Load(u + kp + o);
            var u2 = Vector512.Load(u + 2 * kp + o);
            var u3 = Vector512.Load(u + 3 * kp + o);
            float* d = dw + s;
            TokenQ4_0(ref a00, ref a10, ref a20, ref a30, u0, u1, u2, u3, d, ds, x + o, dx + s);
            TokenQ4_0(ref a01, ref a11, ref a21, ref a31, u0, u1, u2, u3, d, ds, x + kp + o, dx + ds + s);
            TokenQ4_0(ref a02, ref a12, ref a22, ref a32, u0, u1, u2, u3, d, ds, x + 2 * kp + o, dx + 2 * ds + s);
            TokenQ4_0(ref a03, ref a13, ref a23, ref a33, u0, u1, u2, u3, d, ds, x + 3 * kp + o, dx + 3 * ds + s);
        }
        // The "- 8": acc_ij -= Σ_b dw_ib * (8 * dx_jb * Σ x_jb), 16 blocks per vector; the padding is zero.
        for (int c = 0; c < b16; c += 16)
        {
            var w0 = Vector512.Load(dc + c);
            var w1 = Vector512.Load(dc + b16 + c);
            var w2 = Vector512.Load(dc + 2 * b16 + c);
            var w3 = Vector512.Load(dc + 3 * b16 + c);
            var c0 = Vector512.Load(xc + c);
            a00 = Avx512F.FusedMultiplyAddNegated(w0, c0, a00); a10 = Avx512F.FusedMultiplyAddNegated(w1, c0, a10);
            a20 = Avx512F.FusedMultiplyAddNegated(w2, c0, a20); a30 = Avx512F.FusedMultiplyAddNegated(w3, c0, a30);
            var c1 = Vector512.Load(xc + b16 + c);
            a01 = Avx512F.FusedMultiplyAddNegated(w0, c1, a01); a11 = Avx512F.FusedMultiplyAddNegated(w1, c1, a11);
            a21 = Avx512F.FusedMultiplyAddNegated(w2, c1, a21); a31 = Avx512F.FusedMultiplyAddNegated(w3, c1, a31);
            var c2 = Vector512.Load(xc + 2 * b16 + c);
            a02 = Avx512F.FusedMultiplyAddNegated(w0, c2, a02); a12 = Avx512F.FusedMultiplyAddNegated(w1, c2, a12);
            a22 = Avx512F.FusedMultiplyAddNegated(w2, c2, a22); a32 = Avx512F.FusedMultiplyAddNegated(w3, c2, a32);
            var c3 = Vector512.Load(xc + 3 * b16 + c);
            a03 = Avx512F.FusedMultiplyAddNegated(w0, c3, a03); a13 = Avx512F.FusedMultiplyAddNegated(w1, c3, a13);
            a23 = Avx512F.FusedMultiplyAddNegated(w2, c3, a23); a33 = Avx512F.FusedMultiplyAddNegated(w3, c3, a33);
        }
        StoreRows(y, n, 0, rows, Vector512.Sum(a00), Vector512.Sum(a10), Vector512.Sum(a20), Vector512.Sum(a30));
        StoreRows(y, n, 1, rows, Vector512.Sum(a01), Vector512.Sum(a11), Vector512.Sum(a21), Vector512.Sum(a31));
        StoreRows(y, n, 2, rows, Vector512.Sum(a02), Vector512.Sum(a12), Vector512.Sum(a22), Vector512.Sum(a32));
        StoreRows(y, n, 3, rows, Vector512.Sum(a03), Vector512.Sum(a13), Vector512.Sum(a23), Vector512.Sum(a33));
    }

    /// <summary>One token's block pair against four rows: acc_i += Σ q_i · x * dw_i * dx (q = w + 8, unsigned).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenQ4_0(ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3,
        Vector512<byte> u0, Vector512<byte> u1, Vector512<byte> u2, Vector512<byte> u3,
        float* dw /*[4, pairs*16] at the pair*/, int ds, sbyte* x /*[64]*/, float* dx /*[16]*/)
    {
        var xv = Vector512.Load(x);
        var e = Vector512.Load(dx);
        a0 = Avx512F.FusedMultiplyAdd(PairSums(u0, xv), Vector512.Load(dw) * e, a0);
        a1 = Avx512F.FusedMultiplyAdd(PairSums(u1, xv), Vector512.Load(dw + ds) * e, a1);
        a2 = Avx512F.FusedMultiplyAdd(PairSums(u2, xv), Vector512.Load(dw + 2 * ds) * e, a2);
        a3 = Avx512F.FusedMultiplyAdd(PairSums(u3, xv), Vector512.Load(dw + 3 * ds) * e, a3);
    }

    /// <summary>u8 x s8 over 64 pairs -> 16 float lanes, lanes 0-7 summing the first block, 8-15 the second.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairSums(Vector512<byte> u, Vector512<sbyte> x) =>
        Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, x), Vector512<short>.One));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows(float* y, int n, int tj, int rows, float s0, float s1, float s2, float s3)
    {
        float* yr = y + (long)tj * n;
        yr[0] = s0;
        if (rows > 1) yr[1] = s1;
        if (rows > 2) yr[2] = s2;
        if (rows > 3) yr[3] = s3;
    }
}
