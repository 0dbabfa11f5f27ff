using System.Numerics.Tensors;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Encoders;

// Dimension legend
//   B  sequences in the batch
//   T  tokens of all sequences packed back to back (Σ lengths; no padding rows)
//   H  hidden size; nh heads of width d = H / nh
//   I  intermediate (feed-forward) size
//
// Batching packs sequences instead of padding them: dense layers, LayerNorm and GELU act on each token row on its
// own, so only attention needs to know where a sequence ends, and it attends within [start, start + length). That
// equals Hugging Face's padded batch with an additive -inf mask on padding keys for every real token (the padded
// rows HF also computes are thrown away by masked pooling anyway), without spending work on padding.
//
// Threads: the matrix products run on one KernelThreadPool, which splits weight rows across threads (each weight
// row read once per batch); attention splits blocks of up to 8 query tokens of one sequence (all their heads) across
// the same pool, and so do the row operations (transposing keys, GELU, residual + LayerNorm): on two threads a row
// operation left on the calling thread idles the other core for its whole length.

/// <summary>
/// Run state of a BERT forward pass: activation buffers sized for the largest batch seen so far (grown on demand,
/// reused afterwards) and a thread pool. Not thread-safe: one session per thread.
/// </summary>
public sealed unsafe class BertSession : IDisposable
{
    private readonly BertEncoder _model;
    private readonly KernelThreadPool _pool;
    private readonly AttentionJob _attention = new();
    private readonly RowsJob _rows = new();
    private int _capacity;                 // tokens the buffers hold
    private float[] _x = [];               // [T, H] residual stream
    private float[] _q = [], _k = [], _v = [];  // [T, H]
    private float[] _kt = [];              // [H, T] keys transposed for the attention kernel
    private float[] _ctx = [];             // [T, H] attention output (heads concatenated), then scratch
    private float[] _ffn = [];             // [T, I]
    private int[] _seqStart = [], _seqLength = [];  // [T] where each token's sequence starts, and its length
    private int[] _blockRow = [], _blockRows = [];  // [blocks ≤ T] attention blocks: first query row, rows (≤ 8, one sequence)
    private byte[] _scratch = [];          // MatMul scratch: Q8_0 copies of the activations for quantized GGUF weights (pinned)

    /// <summary>Creates a session over <paramref name="model"/> computing on <paramref name="threads"/> threads (0 = one per processor).</summary>
    public BertSession(BertEncoder model, int threads = 0)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Threads = threads > 0 ? threads : Math.Max(1, Environment.ProcessorCount);
        _pool = new KernelThreadPool(Threads);
    }

    /// <summary>Threads the session computes on.</summary>
    public int Threads { get; }

    /// <summary>The model this session runs.</summary>
    public BertEncoder Model => _model;

    /// <summary>
    /// Runs the encoder over <paramref name="lengths"/>.Length sequences whose ids are packed back to back in
    /// <paramref name="ids"/> and writes the last layer's token states to <paramref name="hidden"/>, row t for
    /// packed token t.
    /// </summary>
    /// <param name="hidden">[T, H] output; T = Σ lengths.</param>
    /// <param name="ids">[T] word-piece ids, each in [0, V).</param>
    /// <param name="typeIds">[T] segment ids in [0, S), or empty for all zeros.</param>
    /// <param name="lengths">[B] sequence lengths, each in [1, MaxPositions].</param>
    public void Forward(Span<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<int> typeIds, ReadOnlySpan<int> lengths)
    {
        var c = _model.Config;
        int t = ids.Length, h = c.Hidden;
        CheckInputs(ids, typeIds, lengths);
        if (hidden.Length < (long)t * h)
            throw new ArgumentException($"hidden holds {hidden.Length} floats; {t} tokens × {h} need {(long)t * h}.", nameof(hidden));
        if (t == 0) return;
        Ensure(t);

        int blocks = 0;
        for (int b = 0, s = 0; b < lengths.Length; s += lengths[b], b++)
        {
            for (int i = 0; i < lengths[b]; i++)
            {
                _seqStart[s + i] = s;
                _seqLength[s + i] = lengths[b];
            }
            for (int i = 0; i < lengths[b]; i += Attention.BlockRows, blocks++)
            {
                _blockRow[blocks] = s + i;
                _blockRows[blocks] = Math.Min(Attention.BlockRows, lengths[b] - i);
            }
        }

        Embed(ids, typeIds);
        var w = _model.Weights;
        fixed (float* x = _x, q = _q, k = _k, v = _v, kt = _kt, ctx = _ctx, ffn = _ffn)
        {
            foreach (var layer in w.Layers)
            {
                // Self-attention: Q, K, V projections with biases, bidirectional attention within each sequence.
                Linear(q, x, layer.Query, layer.QueryBias, t);
                Linear(k, x, layer.Key, layer.KeyBias, t);
                Linear(v, x, layer.Value, layer.ValueBias, t);
                Rows(RowOp.TransposeKeys, kt, k, null, null, t, h);
                _attention.Set(ctx, q, kt, v, t, _seqStart, _seqLength, _blockRow, _blockRows, c.Heads, c.HeadDim, h);
                try { _pool.For(blocks * c.Heads, _attention, grain: c.Heads); }
                finally { _attention.Clear(); }

                // Output projection, residual, post-LayerNorm (BertSelfOutput). q is free again: reuse it.
                Linear(q, ctx, layer.AttentionOutput, layer.AttentionOutputBias, t);
                Rows(RowOp.AddNorm, x, q, layer.AttentionNormWeight, layer.AttentionNormBias, t, h);

                // Feed-forward: dense + GELU (BertIntermediate), dense + residual + LayerNorm (BertOutput).
                Linear(ffn, x, layer.Intermediate, layer.IntermediateBias, t);
                Rows(RowOp.Gelu, ffn, null, null, null, t, c.Intermediate);
                Linear(q, ffn, layer.Output, layer.OutputBias, t);
                Rows(RowOp.AddNorm, x, q, layer.OutputNormWeight, layer.OutputNormBias, t, h);
            }
        }
        _x.AsSpan(0, t * h).CopyTo(hidden);
    }

    /// <summary>
    /// Cross-encoder scores: runs <see cref="Forward"/>, then BertPooler (dense + tanh over each [CLS] state) and the
    /// classifier. Writes [B, C] logits.
    /// </summary>
    public void Classify(Span<float> logits /*[B, C]*/, ReadOnlySpan<int> ids, ReadOnlySpan<int> typeIds, ReadOnlySpan<int> lengths)
    {
        var c = _model.Config;
        var w = _model.Weights;
        if (c.NumLabels == 0 || w.ClassifierWeight.IsEmpty || w.PoolerWeight.IsEmpty)
            throw new InvalidOperationException("This checkpoint has no pooler + classifier (BertForSequenceClassification); it cannot score pairs.");
        int t = ids.Length, h = c.Hidden, n = lengths.Length;
        if (logits.Length < n * c.NumLabels)
            throw new ArgumentException($"logits holds {logits.Length} floats; {n} sequences × {c.NumLabels} labels needed.", nameof(logits));
        var hidden = new float[(long)t * h];
        Forward(hidden, ids, typeIds, lengths);
        var cls = new float[n * h];
        for (int b = 0, s = 0; b < n; s += lengths[b], b++)
            hidden.AsSpan(s * h, h).CopyTo(cls.AsSpan(b * h));
        var pooled = new float[n * h];
        var outp = new float[n * c.NumLabels];
        fixed (float* pc = cls, pp = pooled, po = outp)
        {
            Linear(pp, pc, w.PoolerWeight, w.PoolerBias!, n);
            TensorPrimitives.Tanh(pooled, pooled);
            Linear(po, pp, w.ClassifierWeight, w.ClassifierBias!, n);
        }
        outp.CopyTo(logits);
    }

    private void CheckInputs(ReadOnlySpan<int> ids, ReadOnlySpan<int> typeIds, ReadOnlySpan<int> lengths) =>
        BertBatch.Check(_model.Config, ids, typeIds, lengths);

    // x[t] = LayerNorm(word[id] + position[t − start] + type[segment]), BertEmbeddings.
    private void Embed(ReadOnlySpan<int> ids, ReadOnlySpan<int> typeIds)
    {
        var c = _model.Config;
        var w = _model.Weights;
        int h = c.Hidden;
        Span<float> row = h <= 4096 ? stackalloc float[h] : new float[h];
        for (int t = 0; t < ids.Length; t++)
        {
            var x = _x.AsSpan(t * h, h);
            Quant.DequantizeRow(w.WordEmbeddings.Type, w.WordEmbeddings.Row(ids[t]), x);
            Quant.DequantizeRow(w.PositionEmbeddings.Type, w.PositionEmbeddings.Row(t - _seqStart[t]), row);
            TensorPrimitives.Add(x, row, x);
            Quant.DequantizeRow(w.TypeEmbeddings.Type, w.TypeEmbeddings.Row(typeIds.IsEmpty ? 0 : typeIds[t]), row);
            TensorPrimitives.Add(x, row, x);
            Norms.LayerNorm(x, x, w.EmbeddingNormWeight, w.EmbeddingNormBias, c.LayerNormEps);
        }
    }

    // Below this many tokens a product is a few matrix-vector products: the dot-product kernel reads each weight row
    // once for all tokens and needs no packing. From here on the blocked SGEMM wins (an MR×NR register tile per step
    // of K instead of two loads per FMA).
    internal const int GemmMinTokens = 16;

    // y = x · wᵀ + bias, rows of y are [N]; the pool splits weight rows (dot products) or rows of y (SGEMM) across threads.
    private void Linear(float* y, float* x, in TensorView weight, float[] bias, int t)
    {
        int n = checked((int)weight.Rows);
        if (t >= GemmMinTokens && weight.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
        {
            // Y[T, N] = X[T, K] · W[N, K]ᵀ + bias: B is the weight read transposed; float weights are expanded segment by
            // segment; the bias is added as tiles are stored.
            fixed (float* pb = bias)
                MatMul.Gemm(_pool, y, n, t, n, weight.Cols, new MatMul.GemmOperand(MatMul.F32View(x, t, weight.Cols), transposed: false),
                    new MatMul.GemmOperand(weight, transposed: true), alpha: 1f, accumulate: false, splitRows: true, scratch: null, bias: pb);
            return;
        }
        DotProducts(y, x, weight, t);
        for (int r = 0; r < t; r++)
        {
            var row = new Span<float>(y + (long)r * n, n);
            TensorPrimitives.Add(row, bias, row);
        }
    }

    private void DotProducts(float* y, float* x, in TensorView weight, int t)
    {
        long need = MatMul.ScratchBytes(weight.Type, weight.Cols, t);
        if (need > _scratch.Length)
            _scratch = GC.AllocateUninitializedArray<byte>(checked((int)Math.Max(need, MatMul.ScratchBytes(weight.Type, weight.Cols, _capacity))), pinned: true);
        fixed (byte* scratch = _scratch)
            MatMul.Forward(_pool, y, x, weight, t, need == 0 ? null : scratch);
    }

    // One row operation over t rows of `width` floats, rows split across the pool (16 rows a grain: whole cache lines
    // of kt for the transpose, and enough work per hand-off for the others).
    private void Rows(RowOp op, float* x, float* other, float[]? weight, float[]? bias, int t, int width)
    {
        _rows.Set(op, x, other, weight, bias, width, t, _model.Config.LayerNormEps);
        try { _pool.For(t, _rows, grain: 16); }
        finally { _rows.Clear(); }
    }

    private enum RowOp
    {
        TransposeKeys,  // x = kt [H, T], other = k [T, H]
        AddNorm,        // x = LayerNorm(x + other) [T, H]
        Gelu,           // x = GELU(x) [T, I]
    }

    private sealed class RowsJob : IRangeJob
    {
        private RowOp _op;
        private float* _x, _other;
        private float[]? _weight, _bias;
        private int _width, _tokens;
        private float _eps;

        public void Set(RowOp op, float* x, float* other, float[]? weight, float[]? bias, int width, int tokens, float eps)
        {
            _x = x;
            _other = other;
            (_op, _weight, _bias, _width, _tokens, _eps) = (op, weight, bias, width, tokens, eps);
        }

        public void Clear()
        {
            _x = _other = null;
            _weight = _bias = null;
        }

        public void Execute(int begin, int end)
        {
            int w = _width;
            switch (_op)
            {
                case RowOp.TransposeKeys:
                    Attention.TransposeKeys(_x, _other, _tokens, w, begin, end);
                    break;
                case RowOp.Gelu:
                    Activations.Gelu(new Span<float>(_x + (long)begin * w, (end - begin) * w));
                    break;
                case RowOp.AddNorm:
                    for (int r = begin; r < end; r++)
                    {
                        var xr = new Span<float>(_x + (long)r * w, w);
                        TensorPrimitives.Add(xr, new ReadOnlySpan<float>(_other + (long)r * w, w), xr);
                        Norms.LayerNorm(xr, xr, _weight, _bias, _eps);
                    }
                    break;
            }
        }
    }

    private void Ensure(int tokens)
    {
        if (tokens <= _capacity) return;
        int cap = Math.Max(tokens, _capacity * 2);
        int h = _model.Config.Hidden, i = _model.Config.Intermediate;
        _x = GC.AllocateUninitializedArray<float>(cap * h);
        _q = GC.AllocateUninitializedArray<float>(cap * h);
        _k = GC.AllocateUninitializedArray<float>(cap * h);
        _kt = GC.AllocateUninitializedArray<float>(cap * h);
        _v = GC.AllocateUninitializedArray<float>(cap * h);
        _ctx = GC.AllocateUninitializedArray<float>(cap * h);
        _ffn = GC.AllocateUninitializedArray<float>(checked(cap * i));
        _seqStart = new int[cap];
        _seqLength = new int[cap];
        _blockRow = new int[cap];
        _blockRows = new int[cap];
        _capacity = cap;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _pool.Dispose();
    }

    /// <summary>
    /// Scaled dot-product attention (Vaswani et al. 2017) for one (block of ≤ 8 query tokens of one sequence, head) per
    /// index: the queries against every key of their own sequence, softmax, weighted sum of values
    /// (<see cref="Attention.BidirectionalBlock"/>). No causal mask: BERT is bidirectional.
    /// </summary>
    private sealed class AttentionJob : IRangeJob
    {
        private float* _out, _q, _kt, _v;
        private int[] _start = [], _length = [], _blockRow = [], _blockRows = [];
        private int _tokens, _heads, _headDim, _hidden;

        public void Set(float* output, float* q, float* kt, float* v, int tokens, int[] start, int[] length, int[] blockRow, int[] blockRows,
            int heads, int headDim, int hidden)
        {
            _out = output;
            _q = q;
            _kt = kt;
            _v = v;
            (_tokens, _start, _length, _blockRow, _blockRows, _heads, _headDim, _hidden) = (tokens, start, length, blockRow, blockRows, heads, headDim, hidden);
        }

        public void Clear()
        {
            _out = _q = _kt = _v = null;
            _start = _length = _blockRow = _blockRows = [];
        }

        public void Execute(int begin, int end)
        {
            int d = _headDim, hid = _hidden;
            int maxLen = 0;
            for (int u = begin; u < end; u++) maxLen = Math.Max(maxLen, _length[_blockRow[u / _heads]]);
            int need = Attention.BlockRows * Attention.BlockScoreStride(maxLen);
            float[]? rented = null;
            Span<float> scores = need <= 8 * 1024 ? stackalloc float[need] : (rented = new float[need]);
            for (int u = begin; u < end; u++)
            {
                int block = u / _heads, head = u % _heads, row = _blockRow[block];
                long at = (long)row * hid + head * d;
                Attention.BidirectionalBlock(_out + at, _q + at, _kt, _v, _tokens, hid, head, d, _start[row], _length[row], _blockRows[block], scores);
            }
            GC.KeepAlive(rented);
        }
    }
}
