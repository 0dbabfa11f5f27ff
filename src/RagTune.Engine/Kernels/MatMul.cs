using System.Runtime.Intrinsics.X86;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   T  token rows in the batch (1 while decoding, the prompt length during prefill)
//   K  input features = w.Cols (ggml ne[0]); a multiple of 32 for Q8_0 / Q4_0 weights
//   N  output features = w.Rows
//
// y = x · wᵀ, the layout of ggml_mul_mat / PyTorch nn.Linear: weights are [N, K] row-major, so every output is a
// dot product of two contiguous rows. The weight type's entry in Quant.Traits (QuantTraits.cs), looked up once per
// call, gives the partner type the activations are quantized to once (ggml's vec_dot_type: Q8_0 for Q8_0 / Q4_0
// weights, Q8_K for the K-quants, none for F32 / F16 / BF16) and the row dot; every quantized weight row is dotted
// block by block in integers, weights are never expanded. Which kernel runs is chosen here by the batch's shape,
// among those the entry says its block layout has (MatMulKernels): register-blocked tiles for T >= 4 on AVX-512,
// the Q8_0-partner decode rows on AVX2, else one row dot per (row, token). K-quants have only the row dot: for each
// tile of RowTile weight rows every token of a TokenBlock streams past them, so a row is read once per 64 tokens.

/// <summary>Matrix multiplication of F32 activations with weights of any supported storage type.</summary>
internal static unsafe partial class MatMul
{
    // Rows handed to one thread are a multiple of this: 16 floats = one 64-byte line of y per token, so two threads
    // never write the same cache line of y.
    private const int RowGrain = 16;

    // Weight rows processed together: their bytes stay in L1 while all T token rows stream past them, so during
    // prefill each weight byte is read from memory once instead of T times.
    private const int RowTile = 4;

    // Token rows processed against the whole row range before moving on: 64 rows of activations (147 KiB of F32
    // at K = 576) stay in L2 while the weights stream past; the weights are read from memory once per block.
    private const int TokenBlock = 64;

    [ThreadStatic] private static Job? t_job;
    [ThreadStatic] private static float[]? t_rowTile;   // [4, K] widened F16 / BF16 weight rows, grown on demand

    /// <summary>
    /// Bytes of scratch <see cref="Forward"/> needs for quantized weights. Layout, each region 64-byte aligned:
    /// the Q8_0 copy of the activations [T, K/32*34] bytes; every block scale as a float repeated 8 times, each token
    /// padded with zeros to an even number of blocks [T, pairs*16] (the 256-bit decode kernels load one block's as a
    /// vector, the int8 tiles a block pair's); for the int16 prefill tiles the quants widened to int16 [T, K] and the
    /// block scales as floats [T, K/32]; for the int8 prefill tiles (MatMul.Tiles.Int8.cs) the quants as int8 rows
    /// [T, Kp] and the Q4_0 corrections [T, B16] floats.
    /// </summary>
    /// <remarks>For the K-quants the scratch is only the Q8_K copy, [T, K/256*292] bytes; for F32 / F16 / BF16 none.</remarks>
    public static long ScratchBytes(GgmlType weightType, int k, int t)
    {
        ref readonly var w = ref Quant.Traits(weightType);
        if (w.VecDot == null || w.VecDotType == GgmlType.F32) return 0;
        if (HasQ8_0Kernels(w)) return Layout(k, t).Total;
        return t * Quant.Traits(w.VecDotType).RowBytes(k);
    }

    /// <summary>True for the weight layouts with the Q8_0-partner decode rows and prefill tiles (Q8_0, Q4_0).</summary>
    private static bool HasQ8_0Kernels(in QuantTraits w) => w.MatMulKernels is MatMulKernels.Q8_0Tiles or MatMulKernels.Q4_0Tiles;

    private static (long Scales8, long X16, long Scales1, long X8, long XC, long Total) Layout(int k, int t)
    {
        static long Align(long v) => (v + 63) & ~63L;
        int rowBlocks = k / Quant.QK;
        long blocks = (long)t * rowBlocks;
        long kp = (long)t * Pairs(rowBlocks) * 64;   // T rows of int8, padded to whole block pairs
        long scales8 = Align(blocks * Quant.Q8_0BlockBytes);
        long x16 = Align(scales8 + (long)t * Pairs(rowBlocks) * 16 * sizeof(float));
        long scales1 = Align(x16 + blocks * Quant.QK * sizeof(short));
        long x8 = Align(scales1 + blocks * sizeof(float));
        long xc = x8 + kp;
        return (scales8, x16, scales1, x8, xc, xc + (long)t * Blocks16(rowBlocks) * sizeof(float));
    }

    /// <summary>Floats per token in the Scales8 region: each block scale 8 times, padded to an even block count.</summary>
    private static int Scales8Stride(int k) => Pairs(k / Quant.QK) * 16;

    /// <summary>
    /// y[t, n] = Σ_k x[t, k] · w[n, k], parallel over weight rows. <paramref name="scratch"/> holds at least
    /// <see cref="ScratchBytes"/> bytes (may be null when that is 0). Allocates nothing after the first call on a thread.
    /// </summary>
    public static void Forward(KernelThreadPool pool, float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView w /*[N, K]*/, int t, byte* scratch) =>
        ForwardWithTiles(pool, y, x, w, t, scratch, DefaultQuantTiles);

    /// <summary>The AVX-512 prefill tiles Forward uses for Q8_0 / Q4_0 weights (both are tested against the reference).</summary>
    internal const QuantTiles DefaultQuantTiles = QuantTiles.Int8;

    /// <summary><see cref="Forward"/> with a chosen family of AVX-512 prefill tiles (tests compare both).</summary>
    internal static void ForwardWithTiles(KernelThreadPool pool, float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView w /*[N, K]*/, int t, byte* scratch, QuantTiles tiles)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        ref readonly var traits = ref Quant.MatMulTraits(w.Type);
        byte* xq = PrepareActivations(x, traits, k, t, scratch, reference: false, tiles);
        var job = t_job ??= new Job();
        job.Set(y, x, xq, w, traits, t, n, k, tiles);
        try
        {
            pool.For(n, job, RowGrain);
        }
        finally
        {
            job.Clear();
        }
    }

    /// <summary>Single-threaded scalar reference of <see cref="Forward"/>, with the same activation quantization.</summary>
    public static void ForwardReference(float* y /*[T, N]*/, float* x /*[T, K]*/, in TensorView w /*[N, K]*/, int t, byte* scratch)
    {
        int n = checked((int)w.Rows), k = w.Cols;
        ref readonly var traits = ref Quant.MatMulTraits(w.Type);
        byte* xq = PrepareActivations(x, traits, k, t, scratch, reference: true, DefaultQuantTiles);
        // Activation rows in the partner format: the quantized copy, or x itself for the float types.
        byte* xa = xq != null ? xq : (byte*)x;
        long xaRow = Quant.Traits(traits.VecDotType).RowBytes(k);
        for (int tok = 0; tok < t; tok++)
        {
            for (int r = 0; r < n; r++)
                y[(long)tok * n + r] = traits.VecDotReference(w.Data + r * w.RowBytes, xa + tok * xaRow, k);
        }
    }

    /// <summary>
    /// The activations in the partner format of the weights (<see cref="QuantTraits.VecDotType"/>) in the scratch, plus
    /// what the Q8_0-partner kernels read (expanded scales, tile operands); null for the float types, which dot x itself.
    /// </summary>
    private static byte* PrepareActivations(float* x, in QuantTraits w, int k, int t, byte* scratch, bool reference, QuantTiles tiles)
    {
        if (w.VecDotType == GgmlType.F32) return null;
        ref readonly var partner = ref Quant.Traits(w.VecDotType);
        if (k % partner.BlockSize != 0) throw new ArgumentException($"{w.Type} weights need a multiple of {partner.BlockSize} columns, got {k}.");
        if (scratch == null) throw new ArgumentNullException(nameof(scratch), $"MatMul with {w.Type} weights needs MatMul.ScratchBytes({w.Type}, {k}, {t}) bytes of scratch.");
        int rowBytes = checked((int)partner.RowBytes(k));
        var fromFloat = reference ? partner.FromFloatReference : partner.FromFloat;
        for (int tok = 0; tok < t; tok++)
            fromFloat(new ReadOnlySpan<float>(x + (long)tok * k, k), new Span<byte>(scratch + (long)tok * rowBytes, rowBytes));
        if (!reference && Avx2.IsSupported && HasQ8_0Kernels(w))
        {
            var layout = Layout(k, t);
            int blocks = k / Quant.QK, stride = Scales8Stride(k);
            for (int tok = 0; tok < t; tok++)
            {
                float* scales8 = (float*)(scratch + layout.Scales8) + (long)tok * stride;
                for (int b = 0; b < blocks; b++)
                {
                    float d = Quant.ReadHalf(scratch + ((long)tok * blocks + b) * Quant.Q8_0BlockBytes);
                    for (int j = 0; j < 8; j++) scales8[b * 8 + j] = d;
                }
                for (int j = blocks * 8; j < stride; j++) scales8[j] = 0f;   // an odd block count's empty pair half
            }
            bool q4 = w.MatMulKernels == MatMulKernels.Q4_0Tiles;
            if ((UseTiles(t) && tiles != QuantTiles.Int16) || UseDirectTiles(t, tiles, q4)) PrepareInt8Activations(scratch, q4, k, t, scratch);
            else if (UseTiles(t)) WidenActivations(scratch, (short*)(scratch + layout.X16), (float*)(scratch + layout.Scales1), (long)t * (k / Quant.QK));
        }
        return scratch;
    }

    /// <summary>The per-call state of <see cref="Forward"/>, cached per calling thread so a call allocates nothing.</summary>
    private sealed partial class Job : IRangeJob
    {
        private float* _y, _x;
        private byte* _xq, _w;
        private byte* _xa;                       // [T, xaRow] activations in the partner format: _xq, or _x for the float types
        private long _xaRow;
        private float* _xs;                      // [T, pairs*16] expanded scales (Scales8Stride)
        private short* _x16;                     // [T, K] int16 quants (tiles only)
        private float* _xs1;                     // [T, blocks] scales (int16 tiles only)
        private sbyte* _x8;                      // [T, Kp] int8 quants (int8 tiles only)
        private float* _xc;                      // [T, B16] Q4_0 corrections (int8 tiles only)
        private long _wRowBytes;
        private delegate*<byte*, byte*, int, float> _dot;             // the weight type's row dot
        private delegate*<ReadOnlySpan<byte>, Span<float>, void> _toFloat;
        private MatMulKernels _kernels;
        private bool _inPlace;                   // F32 weights: the float tiles read the rows as they are
        private bool _q4;                        // the Q8_0-partner kernels in their Q4_0 form
        private QuantTiles _tiles;
        private int _t, _n, _k;

        public void Set(float* y, float* x, byte* xq, in TensorView w, in QuantTraits traits, int t, int n, int k, QuantTiles tiles)
        {
            _y = y; _x = x; _xq = xq; _w = w.Data; _wRowBytes = w.RowBytes; _t = t; _n = n; _k = k; _tiles = tiles;
            _xa = xq != null ? xq : (byte*)x;
            _xaRow = Quant.Traits(traits.VecDotType).RowBytes(k);
            _dot = traits.VecDot;
            _toFloat = traits.ToFloat;
            _kernels = traits.MatMulKernels;
            _inPlace = traits.Type == traits.VecDotType;
            _q4 = traits.MatMulKernels == MatMulKernels.Q4_0Tiles;
            var layout = Layout(k, t);
            _xs = xq == null ? null : (float*)(xq + layout.Scales8);
            _x16 = xq == null ? null : (short*)(xq + layout.X16);
            _xs1 = xq == null ? null : (float*)(xq + layout.Scales1);
            _x8 = xq == null ? null : (sbyte*)(xq + layout.X8);
            _xc = xq == null ? null : (float*)(xq + layout.XC);
        }

        public void Clear() { _y = _x = _xs = _xs1 = _xc = null; _xq = _w = _xa = null; _x16 = null; _x8 = null; }

        public void Execute(int start, int end)
        {
            bool tiled = _kernels != MatMulKernels.RowDots && (UseTiles(_t) || (_kernels != MatMulKernels.FloatTiles && UseDirectTiles(_t, _tiles, _q4)));
            bool quantRows = Avx2.IsSupported && Fma.IsSupported && _kernels is MatMulKernels.Q8_0Tiles or MatMulKernels.Q4_0Tiles;
            for (int tok0 = 0; tok0 < _t; tok0 += TokenBlock)
            {
                int tok1 = Math.Min(_t, tok0 + TokenBlock);
                if (tiled) ExecuteTiled(start, end, tok0, tok1);
                else if (quantRows) ExecuteQuantRows(start, end, tok0, tok1);
                else ExecuteRows(start, end, tok0, tok1);
            }
        }

        /// <summary>Quantized weights, one token at a time, with the pre-expanded activation scales.</summary>
        private void ExecuteQuantRows(int start, int end, int tok0, int tok1)
        {
            long xqRow = (long)(_k / Quant.QK) * Quant.Q8_0BlockBytes;
            int blocks = _k / Quant.QK;
            for (int r0 = start; r0 < end; r0 += RowTile)
            {
                int r1 = Math.Min(end, r0 + RowTile);
                for (int tok = tok0; tok < tok1; tok++)
                {
                    byte* xq = _xq + tok * xqRow;
                    float* xs = _xs + (long)tok * Scales8Stride(_k);
                    float* yr = _y + (long)tok * _n;
                    for (int r = r0; r < r1; r++)
                    {
                        byte* w = _w + r * _wRowBytes;
                        yr[r] = _q4 ? RowQ4_0(w, xq, xs, blocks) : RowQ8_0(w, xq, xs, blocks);
                    }
                }
            }
        }

        /// <summary>One dot per (row, token) for rows [start, end) and tokens [tok0, tok1).</summary>
        private void ExecuteRows(int start, int end, int tok0, int tok1)
        {
            var dot = _dot;
            for (int r0 = start; r0 < end; r0 += RowTile)
            {
                int r1 = Math.Min(end, r0 + RowTile);
                for (int tok = tok0; tok < tok1; tok++)
                {
                    float* yr = _y + (long)tok * _n;
                    byte* xr = _xa + tok * _xaRow;
                    for (int r = r0; r < r1; r++)
                        yr[r] = dot(_w + r * _wRowBytes, xr, _k);
                }
            }
        }

        /// <summary>Register-blocked tiles (MatMul.Tiles.cs) for T >= 4; ragged edges fall back to single dots.</summary>
        private void ExecuteTiled(int start, int end, int tok0, int tok1)
        {
            int tFull = tok0 + ((tok1 - tok0) & ~3);
            if (_kernels == MatMulKernels.FloatTiles)
            {
                int rFull = start + ((end - start) & ~3);
                float[]? rows = null;
                if (!_inPlace)
                {
                    // Half-precision weights are widened 4 rows at a time into a per-thread buffer (16 KiB per
                    // 1024 columns) and then multiplied like F32; the whole tensor is never expanded.
                    rows = t_rowTile;
                    if (rows is null || rows.Length < 4 * _k) t_rowTile = rows = GC.AllocateUninitializedArray<float>(4 * _k, pinned: true);
                }
                fixed (float* buffer = rows)
                {
                    for (int r = start; r < rFull; r += 4)
                    {
                        float* w = (float*)(_w + r * _wRowBytes);
                        if (buffer != null)
                        {
                            _toFloat(new ReadOnlySpan<byte>(w, 4 * (int)_wRowBytes), new Span<float>(buffer, 4 * _k));
                            w = buffer;
                        }
                        for (int tok = tok0; tok < tFull; tok += 4)
                            TileF32x4x4(_y + (long)tok * _n + r, _n, w, _x + (long)tok * _k, _k);
                    }
                }
                if (rFull < end) ExecuteRows(rFull, end, tok0, tFull);
                ExecuteRows(start, end, tFull, tok1);
                return;
            }

            if (_tiles != QuantTiles.Int16)
            {
                ExecuteTiledInt8(start, end, tok0, tok1);
                return;
            }
            long xqRow = (long)(_k / Quant.QK) * Quant.Q8_0BlockBytes;
            int blocks = _k / Quant.QK;
            bool q4 = _q4;
            int rQuad = start + ((end - start) & ~3);
            for (int r = start; r < rQuad; r += 4)
            {
                for (int tok = tok0; tok < tFull; tok += 4)
                    TileQuant4x4(_y + (long)tok * _n + r, _n, _w + r * _wRowBytes, _wRowBytes, q4, _x16 + (long)tok * _k, _xs1 + (long)tok * blocks, _k, blocks);
            }
            for (int r = start; r < end; r++)
            {
                byte* w = _w + r * _wRowBytes;
                for (int tok = tok0; r >= rQuad && tok < tFull; tok += 4)
                {
                    short* x16 = _x16 + (long)tok * _k;
                    float* xs1 = _xs1 + (long)tok * blocks;
                    if (q4) TileQ4_0x4(_y + (long)tok * _n + r, _n, w, x16, xs1, _k, blocks);
                    else TileQ8_0x4(_y + (long)tok * _n + r, _n, w, x16, xs1, _k, blocks);
                }
                for (int tok = tFull; tok < tok1; tok++)
                {
                    byte* xq = _xq + tok * xqRow;
                    float* xs = _xs + (long)tok * Scales8Stride(_k);
                    _y[(long)tok * _n + r] = q4 ? RowQ4_0(w, xq, xs, blocks) : RowQ8_0(w, xq, xs, blocks);
                }
            }
        }

        /// <summary>
        /// The int8 tiles (MatMul.Tiles.Int8.cs): for a short token block (<see cref="UseDirectTiles"/>) each 4-row
        /// panel is read from the GGUF blocks for every group of up to 4 tokens; otherwise it is packed once and
        /// multiplied with every 4-token group, and the last &lt; 4 tokens use the one-token row kernels.
        /// </summary>
        private void ExecuteTiledInt8(int start, int end, int tok0, int tok1)
        {
            int tFull = tok0 + ((tok1 - tok0) & ~3);
            int blocks = _k / Quant.QK, pairs = Pairs(blocks), kp = pairs * 64, b16 = Blocks16(blocks), ds = Scales8Stride(_k);
            bool q4 = _q4;
            if (UseDirectTiles(tok1 - tok0, _tiles, q4))
            {
                // Every token, in groups of up to 4: the direct tiles take a short last group themselves.
                for (int r = start; r < end; r += 4)
                {
                    int rows = Math.Min(4, end - r);
                    for (int tok = tok0; tok < tok1; tok += 4)
                    {
                        float* y = _y + (long)tok * _n + r;
                        int tokens = Math.Min(4, tok1 - tok);
                        if (q4) TileQ4_0Direct(y, _n, rows, tokens, _w + r * _wRowBytes, _wRowBytes, _x8 + (long)tok * kp, _xs + (long)tok * ds, blocks);
                        else TileQ8_0Direct(y, _n, rows, tokens, _w + r * _wRowBytes, _wRowBytes, _x8 + (long)tok * kp, _xs + (long)tok * ds, blocks);
                    }
                }
                return;
            }
            if (tFull > tok0)
            {
                byte* panel = PanelBuffer(blocks, out byte[] keep);
                for (int r = start; r < end; r += 4)
                {
                    int rows = Math.Min(4, end - r);
                    PackPanel(panel, _w + r * _wRowBytes, _wRowBytes, rows, q4, blocks);
                    for (int tok = tok0; tok < tFull; tok += 4)
                    {
                        float* y = _y + (long)tok * _n + r;
                        if (q4) TileQ4_0Int8(y, _n, rows, panel, _x8 + (long)tok * kp, _xs + (long)tok * ds, _xc + (long)tok * b16, pairs, b16);
                        else TileQ8_0Int8(y, _n, rows, panel, _x8 + (long)tok * kp, _xs + (long)tok * ds, pairs);
                    }
                }
                GC.KeepAlive(keep);
            }
            long xqRow = (long)blocks * Quant.Q8_0BlockBytes;
            for (int r = start; r < end; r++)
            {
                byte* w = _w + r * _wRowBytes;
                for (int tok = tFull; tok < tok1; tok++)
                    _y[(long)tok * _n + r] = q4 ? RowQ4_0(w, _xq + tok * xqRow, _xs + (long)tok * ds, blocks) : RowQ8_0(w, _xq + tok * xqRow, _xs + (long)tok * ds, blocks);
            }
        }
    }
}
