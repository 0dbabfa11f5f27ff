using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   M  rows of C        N  columns of C        P  the summed dimension
//   MR × NR  the register tile of the micro-kernel (MatMul.Gemm.Kernels.cs)
//   MC, KC, NC  the cache blocks of A [MC, KC] (L2), B [KC, NC] (L2) and of one B panel [KC, NR] (L1)
//
// C[M, N] = (C +) alpha · A[M, P] · B[P, N] as a blocked SGEMM, the loop nest of Goto & van de Geijn, "Anatomy of
// high-performance matrix multiplication" (ACM TOMS 34(3), 2008): a KC×NC block of B and an MC×KC block of A are
// copied into contiguous panels (NR columns of B, MR rows of A, interleaved along P, zero-padded), and the
// micro-kernel keeps an MR×NR tile of C in registers for the whole KC loop: per step of P it loads NR/16 vectors of B
// and broadcasts MR values of A for MR·NR/16 FMAs, where a dot per (row, column) pair loads two vectors per FMA.
//
// B is a weight of any type or F32 activations, read through a TensorView: quantized rows are expanded one
// block-aligned segment at a time while packing (the QLoRA recipe: weights stay quantized in memory, never expanded
// whole). A is always F32.

internal static unsafe partial class MatMul
{
    // KC = 256: a B panel of 256×32 floats (32 KiB) stays in L1 while the A panels stream past it, and 256 is a whole
    // number of blocks of every quant type (32 or 256 elements), so a segment of a weight row is always whole blocks.
    private const int GemmKc = 256;
    // MC·KC floats of A (96 KiB) and KC·NC floats of B (512 KiB) stay in L2; MC is a multiple of every MR (8, 6, 4).
    private const int GemmMc = 96;
    // NC is a multiple of 256 too, so segments of the columns of an untransposed quantized B are whole blocks; at 768
    // the widths 576 and 768 of small models take one block, so A is packed once.
    private const int GemmNc = 768;
    // Expanded weight segments: 8 rows of KC (the transposing pack) or one of NC.
    private const int GemmRowFloats = 8 * GemmKc > GemmNc ? 8 * GemmKc : GemmNc;
    private const int GemmThreadFloats = GemmMc * GemmKc + GemmKc * GemmNc + GemmRowFloats;

    [ThreadStatic] private static GemmJob? t_gemm;
    [ThreadStatic] private static float[]? t_gemmPanels;  // the panels of a call made without scratch, grown once per thread

    /// <summary>
    /// One operand of <see cref="Gemm"/>: element (r, c) is Source[r, c], or Source[c, r] when transposed. Source may be
    /// wider than the part the product reads (a head's slice of a [T, H·hd] row: Cols is then the row stride).
    /// </summary>
    internal readonly struct GemmOperand(in TensorView source, bool transposed)
    {
        public readonly TensorView Source = source;
        public readonly bool Transposed = transposed;
    }

    /// <summary>An F32 matrix [rows, cols] as a view.</summary>
    internal static TensorView F32View(float* data, long rows, int cols) => new((byte*)data, GgmlType.F32, rows, cols);

    /// <summary>
    /// C[M, N] (row stride <paramref name="ldc"/>) = (C +) alpha · A·B, parallel over rows of C (<paramref name="splitRows"/>) or over its columns (the
    /// other side when the preferred one has too few tiles for the pool's threads).
    /// <paramref name="scratch"/> holds <see cref="TrainingScratchFloats"/> floats for the pool's threads, or is null
    /// (each thread then uses a buffer of its own, allocated on its first call). <paramref name="bias"/> ([N], or null) is
    /// added to every row of C as the first tile is stored, instead of in a pass of its own over C (only without
    /// <paramref name="accumulate"/>).
    /// </summary>
    internal static void Gemm(KernelThreadPool pool, float* c /*[M, ldc]*/, long ldc, int m, int n, int p, in GemmOperand a /*[M, P], F32*/,
        in GemmOperand b /*[P, N]*/, float alpha, bool accumulate, bool splitRows, float* scratch, float* bias = null)
    {
        if (bias != null && accumulate) throw new ArgumentException("A bias is added only when C is overwritten, not accumulated.", nameof(bias));
        if (m <= 0 || n <= 0) return;
        if (p <= 0)
        {
            for (int i = 0; i < m && !accumulate; i++)
                if (bias != null) new ReadOnlySpan<float>(bias, n).CopyTo(new Span<float>(c + i * ldc, n));
                else new Span<float>(c + i * ldc, n).Clear();
            return;
        }
        // A thin C (a LoRA rank of 8 columns) split the preferred way would leave threads idle; rows can always be
        // split, columns only where B's column segments stay whole quant blocks (F32 or transposed B).
        int rowUnits = (m + GemmGeometry.Mr - 1) / GemmGeometry.Mr, colUnits = (n + GemmGeometry.Nr - 1) / GemmGeometry.Nr;
        bool columnsSplittable = b.Transposed || b.Source.Type == GgmlType.F32;
        if (!columnsSplittable) splitRows = true;
        else if (splitRows ? rowUnits < pool.Threads && colUnits > rowUnits : colUnits < pool.Threads && rowUnits > colUnits) splitRows = !splitRows;
        var job = t_gemm ??= new GemmJob();
        job.Set(c, ldc, m, n, p, a, b, alpha, accumulate, splitRows, scratch, bias);
        try
        {
            if (splitRows) pool.For(m, job, GemmGeometry.Mr);
            else pool.For(n, job, Math.Max(GemmGeometry.Nr, RowGrain));
        }
        finally { job.Clear(); }
    }

    private sealed class GemmJob : IRangeJob
    {
        private float* _c, _scratch, _bias;
        private long _ldc;
        private int _m, _n, _p, _slot;
        private GemmOperand _a, _b;
        private float _alpha;
        private bool _accumulate, _splitRows;

        public void Set(float* c, long ldc, int m, int n, int p, in GemmOperand a, in GemmOperand b, float alpha, bool accumulate, bool splitRows,
            float* scratch, float* bias)
        {
            _c = c; _ldc = ldc; _m = m; _n = n; _p = p; _a = a; _b = b; _alpha = alpha; _accumulate = accumulate; _splitRows = splitRows;
            _scratch = scratch; _bias = bias; _slot = 0;
        }

        public void Clear() { _c = _scratch = _bias = null; _a = _b = default; }

        public void Execute(int start, int end)
        {
            float[]? own = null;
            if (_scratch == null)
            {
                own = t_gemmPanels;
                if (own is null) t_gemmPanels = own = GC.AllocateUninitializedArray<float>(GemmThreadFloats, pinned: true);
            }
            fixed (float* ownPanels = own)
            {
                float* panels = ownPanels != null ? ownPanels : _scratch + (long)(Interlocked.Increment(ref _slot) - 1) * GemmThreadFloats;
                if (_splitRows) Run(start, end, 0, _n, panels);
                else Run(0, _m, start, end, panels);
            }
        }

        /// <summary>C[i0:i1, j0:j1] with the loop nest of the file comment.</summary>
        private void Run(int i0, int i1, int j0, int j1, float* panels)
        {
            int mr = GemmGeometry.Mr, nr = GemmGeometry.Nr;
            float* ap = panels;                               // [MC/MR][KC, MR]
            float* bp = ap + GemmMc * GemmKc;                 // [NC/NR][KC, NR]
            float* row = bp + GemmKc * GemmNc;                // [GemmRowFloats] expanded weight segments
            float* tile = stackalloc float[GemmGeometry.MaxTile];
            for (int jc = j0; jc < j1; jc += GemmNc)
            {
                int nc = Math.Min(GemmNc, j1 - jc);
                for (int pc = 0; pc < _p; pc += GemmKc)
                {
                    int kc = Math.Min(GemmKc, _p - pc);
                    bool accumulate = _accumulate || pc > 0;
                    float* bias = accumulate ? null : _bias;
                    PackB(bp, _b, pc, kc, jc, nc, nr, row);
                    for (int ic = i0; ic < i1; ic += GemmMc)
                    {
                        int mc = Math.Min(GemmMc, i1 - ic);
                        PackA(ap, _a, ic, mc, pc, kc, mr);
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            float* bPanel = bp + (long)(jr / nr) * kc * nr;
                            for (int ir = 0; ir < mc; ir += mr)
                            {
                                GemmGeometry.Kernel(ap + (long)(ir / mr) * kc * mr, bPanel, kc, tile);
                                StoreTile(_c + (ic + ir) * _ldc + jc + jr, _ldc, tile, nr, Math.Min(mr, mc - ir), Math.Min(nr, nc - jr), _alpha, accumulate,
                                    bias == null ? null : bias + jc + jr);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs A[ic:ic+mc, pc:pc+kc] as ⌈mc/MR⌉ panels [kc, MR] (element (i, p) at panel i/MR, p·MR + i%MR), rows past
    /// <paramref name="mc"/> zero.
    /// </summary>
    private static void PackA(float* dst, in GemmOperand a, int ic, int mc, int pc, int kc, int mr)
    {
        float* src = (float*)a.Source.Data;
        long ld = a.Source.Cols;
        int panels = (mc + mr - 1) / mr;
        if (a.Transposed)
        {
            // A(i, p) = src[p, i]: MR consecutive floats of one source row per step of P.
            for (int q = 0; q < panels; q++)
            {
                int rows = Math.Min(mr, mc - q * mr);
                float* panel = dst + (long)q * kc * mr;
                for (int k = 0; k < kc; k++)
                {
                    float* s = src + (pc + k) * ld + ic + q * mr;
                    float* d = panel + k * mr;
                    int i = 0;
                    for (; i < rows; i++) d[i] = s[i];
                    for (; i < mr; i++) d[i] = 0f;
                }
            }
            return;
        }
        for (int q = 0; q < panels; q++)
        {
            int rows = Math.Min(mr, mc - q * mr);
            float* panel = dst + (long)q * kc * mr;
            if (rows == 8 && mr == 8 && Avx.IsSupported)
            {
                float* s0 = src + (ic + q * 8) * ld + pc;
                int k = 0;
                for (; k + 8 <= kc; k += 8) Transpose8x8(s0 + k, ld, panel + k * 8, 8);
                for (; k < kc; k++)
                    for (int i = 0; i < 8; i++) panel[k * 8 + i] = s0[i * ld + k];
                continue;
            }
            for (int i = 0; i < mr; i++)
            {
                float* d = panel + i;
                if (i >= rows)
                {
                    for (int k = 0; k < kc; k++) d[k * mr] = 0f;
                    continue;
                }
                float* s = src + (ic + q * mr + i) * ld + pc;
                for (int k = 0; k < kc; k++) d[k * mr] = s[k];
            }
        }
    }

    /// <summary>
    /// Packs B[pc:pc+kc, jc:jc+nc] as ⌈nc/NR⌉ panels [kc, NR] (element (p, j) at panel j/NR, p·NR + j%NR), columns past
    /// <paramref name="nc"/> zero. Quantized rows are expanded a segment at a time into <paramref name="row"/>.
    /// </summary>
    private static void PackB(float* dst, in GemmOperand b, int pc, int kc, int jc, int nc, int nr, float* row)
    {
        int panels = (nc + nr - 1) / nr;
        if (b.Transposed)
        {
            // B(p, j) = w[j, p]: one segment of weight row j fills column j % NR of its panel; eight rows at a time
            // are transposed in registers.
            int j = 0;
            if (Avx.IsSupported && nr % 8 == 0)
            {
                for (; j + 8 <= nc; j += 8)
                {
                    float* s;
                    long stride;
                    if (b.Source.Type == GgmlType.F32)
                    {
                        s = (float*)(b.Source.Data + (jc + j) * b.Source.RowBytes) + pc;
                        stride = b.Source.RowBytes / sizeof(float);
                    }
                    else
                    {
                        for (int r = 0; r < 8; r++) Segment(b.Source, jc + j + r, pc, kc, row + r * GemmKc);
                        s = row;
                        stride = GemmKc;
                    }
                    float* d = dst + (long)(j / nr) * kc * nr + j % nr;
                    int k = 0;
                    for (; k + 8 <= kc; k += 8) Transpose8x8(s + k, stride, d + k * nr, nr);
                    for (; k < kc; k++)
                        for (int r = 0; r < 8; r++) d[k * nr + r] = s[r * stride + k];
                }
            }
            for (; j < panels * nr; j++)
            {
                float* d = dst + (long)(j / nr) * kc * nr + j % nr;
                if (j >= nc)
                {
                    for (int k = 0; k < kc; k++) d[k * nr] = 0f;
                    continue;
                }
                float* s = Segment(b.Source, jc + j, pc, kc, row);
                for (int k = 0; k < kc; k++) d[k * nr] = s[k];
            }
            return;
        }
        // B(p, j) = w[p, j]: one segment of source row p is NR-wide slices of every panel.
        for (int k = 0; k < kc; k++)
        {
            float* s = Segment(b.Source, pc + k, jc, nc, row);
            for (int q = 0; q < panels; q++)
            {
                int cols = Math.Min(nr, nc - q * nr);
                float* d = dst + (long)q * kc * nr + k * nr;
                new ReadOnlySpan<float>(s + q * nr, cols).CopyTo(new Span<float>(d, cols));
                if (cols < nr) new Span<float>(d + cols, nr - cols).Clear();
            }
        }
    }

    /// <summary>
    /// Elements [col, col + count) of row <paramref name="r"/> of <paramref name="w"/> as floats: in place for F32, else
    /// expanded into <paramref name="buffer"/> (col and count are whole blocks: multiples of 256 or end at the row's end).
    /// </summary>
    private static float* Segment(in TensorView w, long r, int col, int count, float* buffer)
    {
        byte* rowData = w.Data + r * w.RowBytes;
        if (w.Type == GgmlType.F32) return (float*)rowData + col;
        var traits = GgmlTypes.Traits(w.Type);
        Quant.DequantizeRow(w.Type, new ReadOnlySpan<byte>(rowData + traits.RowBytes(col), checked((int)traits.RowBytes(count))), new Span<float>(buffer, count));
        return buffer;
    }

    /// <summary>d[c·ds + r] = s[r·ss + c] for r, c in 0..7: an 8×8 block transposed in AVX registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* s, long ss, float* d, long ds)
    {
        // Rows a..h: unpack pairs (a0 b0 a1 b1 | a4 b4 a5 b5), shuffle quads (a0 b0 c0 d0 | a4 b4 c4 d4), then join
        // 128-bit halves (a0 .. h0).
        var r0 = Avx.LoadVector256(s); var r1 = Avx.LoadVector256(s + ss);
        var r2 = Avx.LoadVector256(s + 2 * ss); var r3 = Avx.LoadVector256(s + 3 * ss);
        var r4 = Avx.LoadVector256(s + 4 * ss); var r5 = Avx.LoadVector256(s + 5 * ss);
        var r6 = Avx.LoadVector256(s + 6 * ss); var r7 = Avx.LoadVector256(s + 7 * ss);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + ds, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * ds, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * ds, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * ds, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * ds, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * ds, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * ds, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>C[0:rows, 0:cols] = (C +) alpha · tile (+ bias[0:cols] where not accumulating), the valid part of a micro-kernel's MR×NR result.</summary>
    private static void StoreTile(float* c, long ldc, float* tile /*[MR, nr]*/, int nr, int rows, int cols, float alpha, bool accumulate, float* bias)
    {
        for (int i = 0; i < rows; i++)
        {
            float* t = tile + i * nr;
            float* d = c + i * ldc;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; j + 16 <= cols; j += 16)
                {
                    var v = Vector512.Load(t + j) * alpha;
                    if (accumulate) v += Vector512.Load(d + j);
                    else if (bias != null) v += Vector512.Load(bias + j);
                    v.Store(d + j);
                }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                for (; j + 8 <= cols; j += 8)
                {
                    var v = Vector256.Load(t + j) * alpha;
                    if (accumulate) v += Vector256.Load(d + j);
                    else if (bias != null) v += Vector256.Load(bias + j);
                    v.Store(d + j);
                }
            }
            for (; j < cols; j++) d[j] = accumulate ? d[j] + alpha * t[j] : bias != null ? alpha * t[j] + bias[j] : alpha * t[j];
        }
    }
}
