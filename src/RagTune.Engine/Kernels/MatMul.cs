using System.Numerics.Tensors;
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
// dot product of two contiguous rows. For Q8_0 / Q4_0 weights the activations are quantized once to Q8_0 (ggml's
// vec_dot_type for both) and every weight row is dotted block by block in integers; weights are never expanded.
// Q4_K / Q5_K / Q6_K weights (K a multiple of 256) pair with Q8_K activations the same way (MatMul.KQuants.cs).

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
    public static long ScratchBytes(GgmlType weightType, int k, int t) => weightType switch
    {
        GgmlType.Q8_0 or GgmlType.Q4_0 => Layout(k, t).Total,
        GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K => KScratchBytes(k, t),
        _ => 0,
    };

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
        byte* xq = PrepareActivations(x, w.Type, k, t, scratch, reference: false, tiles);
        var job = t_job ??= new Job();
        job.Set(y, x, xq, w, t, n, k, tiles);
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
        byte* xq = PrepareActivations(x, w.Type, k, t, scratch, reference: true, DefaultQuantTiles);
        long xqRow = w.Type is GgmlType.Q8_0 or GgmlType.Q4_0 ? (long)(k / Quant.QK) * Quant.Q8_0BlockBytes
            : Quant.IsKQuant(w.Type) ? (long)(k / Quant.QKK) * Quant.Q8_KBlockBytes : 0;
        for (int tok = 0; tok < t; tok++)
        {
            var xr = new ReadOnlySpan<float>(x + (long)tok * k, k);
            var xqr = new ReadOnlySpan<byte>(xq + tok * xqRow, (int)xqRow);
            for (int r = 0; r < n; r++)
            {
                var wr = w.Row(r);
                float v;
                switch (w.Type)
                {
                    case GgmlType.F32:
                        var wf = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(wr);
                        v = 0f;
                        for (int i = 0; i < k; i++) v += wf[i] * xr[i];
                        break;
                    case GgmlType.F16: v = Quant.DotF16F32Reference(wr, xr); break;
                    case GgmlType.BF16: v = Quant.DotBF16F32Reference(wr, xr); break;
                    case GgmlType.Q8_0: v = Quant.DotQ8_0Q8_0Reference(wr, xqr, k / Quant.QK); break;
                    case GgmlType.Q4_0: v = Quant.DotQ4_0Q8_0Reference(wr, xqr, k / Quant.QK); break;
                    case GgmlType.Q4_K: v = Quant.DotQ4_KQ8_KReference(wr, xqr, k / Quant.QKK); break;
                    case GgmlType.Q5_K: v = Quant.DotQ5_KQ8_KReference(wr, xqr, k / Quant.QKK); break;
                    case GgmlType.Q6_K: v = Quant.DotQ6_KQ8_KReference(wr, xqr, k / Quant.QKK); break;
                    default: throw Unsupported(w.Type);
                }
                y[(long)tok * n + r] = v;
            }
        }
    }

    private static byte* PrepareActivations(float* x, GgmlType type, int k, int t, byte* scratch, bool reference, QuantTiles tiles)
    {
        switch (type)
        {
            case GgmlType.F32 or GgmlType.F16 or GgmlType.BF16:
                return null;
            case GgmlType.Q8_0 or GgmlType.Q4_0:
                if (scratch == null) throw new ArgumentNullException(nameof(scratch), $"MatMul with {type} weights needs MatMul.ScratchBytes({type}, {k}, {t}) bytes of scratch.");
                int rowBytes = k / Quant.QK * Quant.Q8_0BlockBytes;
                for (int tok = 0; tok < t; tok++)
                {
                    var src = new ReadOnlySpan<float>(x + (long)tok * k, k);
                    var dst = new Span<byte>(scratch + (long)tok * rowBytes, rowBytes);
                    if (reference) Quant.QuantizeRowQ8_0Reference(src, dst);
                    else Quant.QuantizeRowQ8_0(src, dst);
                }
                if (!reference && Avx2.IsSupported)
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
                    if (UseTiles(t) && tiles == QuantTiles.Int8) PrepareInt8Activations(scratch, type == GgmlType.Q4_0, k, t, scratch);
                    else if (UseTiles(t)) WidenActivations(scratch, (short*)(scratch + layout.X16), (float*)(scratch + layout.Scales1), (long)t * (k / Quant.QK));
                }
                return scratch;
            case GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K:
                return PrepareActivationsK(x, type, k, t, scratch);
            default:
                throw Unsupported(type);
        }
    }

    private static NotSupportedException Unsupported(GgmlType type) =>
        new($"MatMul does not support {type} weights; convert the model to f32, f16, bf16, q8_0, q4_0, q4_k, q5_k or q6_k.");

    /// <summary>The per-call state of <see cref="Forward"/>, cached per calling thread so a call allocates nothing.</summary>
    private sealed partial class Job : IRangeJob
    {
        private float* _y, _x;
        private byte* _xq, _w;
        private float* _xs;                      // [T, pairs*16] expanded scales (Scales8Stride)
        private short* _x16;                     // [T, K] int16 quants (tiles only)
        private float* _xs1;                     // [T, blocks] scales (int16 tiles only)
        private sbyte* _x8;                      // [T, Kp] int8 quants (int8 tiles only)
        private float* _xc;                      // [T, B16] Q4_0 corrections (int8 tiles only)
        private long _wRowBytes;
        private GgmlType _type;
        private QuantTiles _tiles;
        private int _t, _n, _k;

        public void Set(float* y, float* x, byte* xq, in TensorView w, int t, int n, int k, QuantTiles tiles)
        {
            _y = y; _x = x; _xq = xq; _w = w.Data; _wRowBytes = w.RowBytes; _type = w.Type; _t = t; _n = n; _k = k; _tiles = tiles;
            var layout = Layout(k, t);
            _xs = xq == null ? null : (float*)(xq + layout.Scales8);
            _x16 = xq == null ? null : (short*)(xq + layout.X16);
            _xs1 = xq == null ? null : (float*)(xq + layout.Scales1);
            _x8 = xq == null ? null : (sbyte*)(xq + layout.X8);
            _xc = xq == null ? null : (float*)(xq + layout.XC);
        }

        public void Clear() { _y = _x = _xs = _xs1 = _xc = null; _xq = _w = null; _x16 = null; _x8 = null; }

        public void Execute(int start, int end)
        {
            if (Quant.IsKQuant(_type))
            {
                ExecuteK(start, end);
                return;
            }
            bool tiled = UseTiles(_t);
            bool quantRows = Avx2.IsSupported && Fma.IsSupported && _type is GgmlType.Q8_0 or GgmlType.Q4_0;
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
                        yr[r] = _type == GgmlType.Q8_0 ? RowQ8_0(w, xq, xs, blocks) : RowQ4_0(w, xq, xs, blocks);
                    }
                }
            }
        }

        /// <summary>One dot per (row, token) for rows [start, end) and tokens [tok0, tok1).</summary>
        private void ExecuteRows(int start, int end, int tok0, int tok1)
        {
            long xqRow = (long)(_k / Quant.QK) * Quant.Q8_0BlockBytes;
            int blocks = _k / Quant.QK;
            for (int r0 = start; r0 < end; r0 += RowTile)
            {
                int r1 = Math.Min(end, r0 + RowTile);
                for (int tok = tok0; tok < tok1; tok++)
                {
                    float* yr = _y + (long)tok * _n;
                    float* xr = _x + (long)tok * _k;
                    byte* xqr = _xq + tok * xqRow;
                    for (int r = r0; r < r1; r++)
                    {
                        byte* wr = _w + r * _wRowBytes;
                        yr[r] = _type switch
                        {
                            GgmlType.F32 => TensorPrimitives.Dot(new ReadOnlySpan<float>(wr, _k), new ReadOnlySpan<float>(xr, _k)),
                            GgmlType.Q8_0 => Quant.DotQ8_0Q8_0(wr, xqr, blocks),
                            GgmlType.Q4_0 => Quant.DotQ4_0Q8_0(wr, xqr, blocks),
                            GgmlType.F16 => Quant.DotF16F32((ushort*)wr, xr, _k),
                            _ => Quant.DotBF16F32((ushort*)wr, xr, _k),
                        };
                    }
                }
            }
        }

        /// <summary>Register-blocked tiles (MatMul.Tiles.cs) for T >= 4; ragged edges fall back to single dots.</summary>
        private void ExecuteTiled(int start, int end, int tok0, int tok1)
        {
            int tFull = tok0 + ((tok1 - tok0) & ~3);
            if (_type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
            {
                int rFull = start + ((end - start) & ~3);
                float[]? rows = null;
                if (_type != GgmlType.F32)
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
                        if (_type == GgmlType.F16)
                            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(w, 4 * _k), new Span<float>(buffer, 4 * _k));
                        else if (_type == GgmlType.BF16)
                            Quant.Bf16ToFp32((ushort*)w, buffer, 4 * _k);
                        if (buffer != null) w = buffer;
                        for (int tok = tok0; tok < tFull; tok += 4)
                            TileF32x4x4(_y + (long)tok * _n + r, _n, w, _x + (long)tok * _k, _k);
                    }
                }
                if (rFull < end) ExecuteRows(rFull, end, tok0, tFull);
                ExecuteRows(start, end, tFull, tok1);
                return;
            }

            if (_tiles == QuantTiles.Int8)
            {
                ExecuteTiledInt8(start, end, tok0, tok1);
                return;
            }
            long xqRow = (long)(_k / Quant.QK) * Quant.Q8_0BlockBytes;
            int blocks = _k / Quant.QK;
            bool q4 = _type == GgmlType.Q4_0;
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
                    _y[(long)tok * _n + r] = _type == GgmlType.Q8_0 ? RowQ8_0(w, xq, xs, blocks) : RowQ4_0(w, xq, xs, blocks);
                }
            }
        }

        /// <summary>
        /// The int8 tiles (MatMul.Tiles.Int8.cs): each panel of up to 4 weight rows is packed once and multiplied
        /// with every 4-token group; the last &lt; 4 tokens use the one-token row kernels.
        /// </summary>
        private void ExecuteTiledInt8(int start, int end, int tok0, int tok1)
        {
            int tFull = tok0 + ((tok1 - tok0) & ~3);
            int blocks = _k / Quant.QK, pairs = Pairs(blocks), kp = pairs * 64, b16 = Blocks16(blocks), ds = Scales8Stride(_k);
            bool q4 = _type == GgmlType.Q4_0;
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
