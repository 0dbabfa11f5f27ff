using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;
using RagTune.Engine.Training;

namespace RagTune.Engine.Encoders;

// Dimension legend
//   B  sequences in the batch;  T  tokens of all sequences packed back to back (no padding rows)
//   H  hidden size; nh heads of width d = H / nh;  I  intermediate size
//   n_b  length of sequence b;  probabilities of sequence b, head h: an n_b × n_b block at ProbOffset[b] + h·n_b²
//
// Training forward and backward of a BERT sentence encoder: embeddings (word + position + token type) → LayerNorm →
// post-LayerNorm blocks → mean or [CLS] pooling → optional L2 normalisation. Like inference (BertSession) sequences
// are packed, which equals Hugging Face's padded batch with an additive mask on padding keys. The forward keeps every
// activation the backward needs (llm.c style: one buffer per quantity per layer); the backward calls the layers in
// exact reverse order and accumulates into each parameter's Grad.

/// <summary>
/// Forward with stored activations and backward of a BERT encoder over <see cref="BertTrainableWeights"/>, from
/// sentence embeddings back to every weight. Buffers grow to the largest batch seen. Not thread-safe.
/// </summary>
public sealed unsafe class BertTrainingSession : IDisposable
{
    private readonly BertTrainableWeights _w;
    private readonly KernelThreadPool _pool;
    private readonly AttentionJob _attention = new();
    private readonly bool _cls, _normalize;

    // Batch description.
    private int _t, _b;
    private int[] _ids = [], _types = [], _lengths = [], _starts = [], _probOffsets = [];

    // Activations ([T, H] unless noted). Layer l reads its input from _out[l − 1] (or _x0).
    private int _capacity;
    private long _probCapacity;
    private float[] _embSum = [], _x0 = [];
    private float[][] _q = [], _k = [], _v = [], _ctx = [], _attnSum = [], _x1 = [], _outSum = [], _out = [];
    private float[][] _ffnPre = [], _ffnAct = [];   // [T, I]
    private float[][] _probs = [];                  // [Σ nh·n_b²]
    private float[] _pooled = [], _embeddings = [], _norms = [];  // [B, H], [B, H], [B]

    // Gradient buffers.
    private float[] _dx = [], _dA = [], _dB = [], _dC = [], _dq = [], _dk = [], _dv = [], _dF = [];
    private readonly float[] _lnScratch;

    /// <summary>Creates a session computing on <paramref name="threads"/> threads (0 = one per processor).</summary>
    /// <param name="weights">The trainable weights (gradients accumulate into them).</param>
    /// <param name="clsPooling">Pool the [CLS] state (BGE) instead of the mean of all token states (MiniLM, E5).</param>
    /// <param name="normalize">L2-normalise the pooled vectors (sentence-transformers' Normalize module).</param>
    /// <param name="threads">Compute threads.</param>
    public BertTrainingSession(BertTrainableWeights weights, bool clsPooling, bool normalize, int threads = 0)
    {
        _w = weights ?? throw new ArgumentNullException(nameof(weights));
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        _cls = clsPooling;
        _normalize = normalize;
        _pool = new KernelThreadPool(threads > 0 ? threads : Math.Max(1, Environment.ProcessorCount));
        _lnScratch = new float[2 * weights.Config.Hidden];
        int l = weights.Config.Layers;
        _q = new float[l][]; _k = new float[l][]; _v = new float[l][]; _ctx = new float[l][];
        _attnSum = new float[l][]; _x1 = new float[l][]; _outSum = new float[l][]; _out = new float[l][];
        _ffnPre = new float[l][]; _ffnAct = new float[l][]; _probs = new float[l][];
        for (int i = 0; i < l; i++) _probs[i] = [];
    }

    /// <summary>
    /// Encodes <paramref name="lengths"/>.Length sequences packed in <paramref name="ids"/> into [B, H] sentence
    /// vectors and keeps the activations for <see cref="Backward"/>.
    /// </summary>
    /// <param name="embeddings">[B, H] output.</param>
    /// <param name="ids">[T] word-piece ids.</param>
    /// <param name="typeIds">[T] segment ids, or empty for all zeros.</param>
    /// <param name="lengths">[B] sequence lengths, each in [1, MaxPositions].</param>
    public void Forward(Span<float> embeddings, ReadOnlySpan<int> ids, ReadOnlySpan<int> typeIds, ReadOnlySpan<int> lengths)
    {
        var c = _w.Config;
        int h = c.Hidden;
        Prepare(ids, typeIds, lengths);
        if (embeddings.Length < _b * h)
            throw new ArgumentException($"embeddings holds {embeddings.Length} floats; {_b} sequences × {h} need {_b * h}.", nameof(embeddings));
        int t = _t;

        // Embeddings: x0 = LayerNorm(word[id] + position[t − start] + type[segment]) (BertEmbeddings).
        var word = _w.WordEmbeddings.Values;
        var pos = _w.PositionEmbeddings.Values;
        var type = _w.TypeEmbeddings.Values;
        for (int b = 0; b < _b; b++)
            for (int i = 0; i < _lengths[b]; i++)
            {
                int r = _starts[b] + i;
                var e = _embSum.AsSpan(r * h, h);
                TensorPrimitives.Add(word.AsSpan(_ids[r] * h, h), pos.AsSpan(i * h, h), e);
                TensorPrimitives.Add(e, type.AsSpan(_types[r] * h, h), e);
                Norms.LayerNorm(_x0.AsSpan(r * h, h), e, _w.EmbeddingNormWeight.Values, _w.EmbeddingNormBias.Values, c.LayerNormEps);
            }

        for (int l = 0; l < c.Layers; l++)
        {
            var lw = _w.Layers[l];
            var xin = l == 0 ? _x0 : _out[l - 1];
            Linear(_q[l], xin, lw.Query, lw.QueryBias, t);
            Linear(_k[l], xin, lw.Key, lw.KeyBias, t);
            Linear(_v[l], xin, lw.Value, lw.ValueBias, t);
            RunAttention(forward: true, l);
            // BertSelfOutput: dense, residual, LayerNorm.
            Linear(_attnSum[l], _ctx[l], lw.AttentionOutput, lw.AttentionOutputBias, t);
            TensorPrimitives.Add(_attnSum[l].AsSpan(0, t * h), xin.AsSpan(0, t * h), _attnSum[l].AsSpan(0, t * h));
            Norms.LayerNormRows(_x1[l], _attnSum[l], lw.AttentionNormWeight.Values, lw.AttentionNormBias.Values, t, c.LayerNormEps);
            // BertIntermediate (dense + GELU) and BertOutput (dense, residual, LayerNorm).
            Linear(_ffnPre[l], _x1[l], lw.Intermediate, lw.IntermediateBias, t);
            _ffnPre[l].AsSpan(0, t * c.Intermediate).CopyTo(_ffnAct[l]);
            Activations.Gelu(_ffnAct[l].AsSpan(0, t * c.Intermediate));
            Linear(_outSum[l], _ffnAct[l], lw.Output, lw.OutputBias, t);
            TensorPrimitives.Add(_outSum[l].AsSpan(0, t * h), _x1[l].AsSpan(0, t * h), _outSum[l].AsSpan(0, t * h));
            Norms.LayerNormRows(_out[l], _outSum[l], lw.OutputNormWeight.Values, lw.OutputNormBias.Values, t, c.LayerNormEps);
        }

        // Pooling (sentence-transformers Pooling) and Normalize (F.normalize: divide by max(‖v‖, 1e-12)).
        var last = _out[c.Layers - 1];
        for (int b = 0; b < _b; b++)
        {
            var p = _pooled.AsSpan(b * h, h);
            if (_cls)
            {
                last.AsSpan(_starts[b] * h, h).CopyTo(p);
            }
            else
            {
                p.Clear();
                for (int i = 0; i < _lengths[b]; i++) TensorPrimitives.Add(p, last.AsSpan((_starts[b] + i) * h, h), p);
                TensorPrimitives.Multiply(p, 1f / _lengths[b], p);
            }
            var e = _embeddings.AsSpan(b * h, h);
            if (_normalize)
            {
                _norms[b] = MathF.Max(TensorPrimitives.Norm<float>(p), 1e-12f);
                TensorPrimitives.Multiply(p, 1f / _norms[b], e);
            }
            else
            {
                p.CopyTo(e);
            }
        }
        _embeddings.AsSpan(0, _b * h).CopyTo(embeddings);
    }

    /// <summary>
    /// Backpropagates <paramref name="dEmbeddings"/> (the loss gradient of the last <see cref="Forward"/>'s output)
    /// to every weight, adding into their Grad (call <see cref="BertTrainableWeights.ZeroGrad"/> between steps).
    /// </summary>
    public void Backward(ReadOnlySpan<float> dEmbeddings /*[B, H]*/)
    {
        var c = _w.Config;
        int h = c.Hidden, inter = c.Intermediate, t = _t;
        if (t == 0) throw new InvalidOperationException("Backward needs a Forward first.");
        if (dEmbeddings.Length < _b * h)
            throw new ArgumentException($"dEmbeddings holds {dEmbeddings.Length} floats; {_b} sequences × {h} need {_b * h}.", nameof(dEmbeddings));

        // Normalize and pooling: dp = (de − e·(e·de)) / ‖p‖, then spread over the sequence's rows (mean) or its first row.
        Array.Clear(_dx, 0, t * h);
        Span<float> dp = h <= 4096 ? stackalloc float[h] : new float[h];
        for (int b = 0; b < _b; b++)
        {
            var de = dEmbeddings.Slice(b * h, h);
            if (_normalize)
            {
                var e = _embeddings.AsSpan(b * h, h);
                float dot = TensorPrimitives.Dot(e, de);
                TensorPrimitives.MultiplyAdd(e, -dot, de, dp);
                TensorPrimitives.Multiply(dp, 1f / _norms[b], dp);
            }
            else
            {
                de.CopyTo(dp);
            }
            if (_cls)
            {
                dp.CopyTo(_dx.AsSpan(_starts[b] * h, h));
            }
            else
            {
                float inv = 1f / _lengths[b];
                for (int i = 0; i < _lengths[b]; i++) TensorPrimitives.Multiply(dp, inv, _dx.AsSpan((_starts[b] + i) * h, h));
            }
        }

        for (int l = c.Layers - 1; l >= 0; l--)
        {
            var lw = _w.Layers[l];
            var xin = l == 0 ? _x0 : _out[l - 1];
            // BertOutput: out = LN(outSum), outSum = x1 + ffnAct·W2ᵀ + b2.
            LayerNormRowsBackward(_dA, _dx, _outSum[l], lw.OutputNormWeight, lw.OutputNormBias, t);
            _dA.AsSpan(0, t * h).CopyTo(_dB);
            Array.Clear(_dF, 0, t * inter);
            LinearBackward(_dF, _dA, _ffnAct[l], lw.Output, lw.OutputBias, t);
            // BertIntermediate: ffnAct = gelu(ffnPre), ffnPre = x1·W1ᵀ + b1; dx1 gathers the residual and this branch.
            Activations.GeluBackward(_dF.AsSpan(0, t * inter), _dF.AsSpan(0, t * inter), _ffnPre[l].AsSpan(0, t * inter));
            LinearBackward(_dB, _dF, _x1[l], lw.Intermediate, lw.IntermediateBias, t);
            // BertSelfOutput: x1 = LN(attnSum), attnSum = xin + ctx·Woᵀ + bo.
            LayerNormRowsBackward(_dA, _dB, _attnSum[l], lw.AttentionNormWeight, lw.AttentionNormBias, t);
            _dA.AsSpan(0, t * h).CopyTo(_dx);
            Array.Clear(_dC, 0, t * h);
            LinearBackward(_dC, _dA, _ctx[l], lw.AttentionOutput, lw.AttentionOutputBias, t);
            // Self-attention: dq, dk, dv from dctx, then back through the three projections into dxin.
            RunAttention(forward: false, l);
            LinearBackward(_dx, _dq, xin, lw.Query, lw.QueryBias, t);
            LinearBackward(_dx, _dk, xin, lw.Key, lw.KeyBias, t);
            LinearBackward(_dx, _dv, xin, lw.Value, lw.ValueBias, t);
        }

        // Embeddings: LayerNorm, then scatter into the rows of the three tables that were read.
        LayerNormRowsBackward(_dA, _dx, _embSum, _w.EmbeddingNormWeight, _w.EmbeddingNormBias, t);
        var dWord = _w.WordEmbeddings.Grad;
        var dPos = _w.PositionEmbeddings.Grad;
        var dType = _w.TypeEmbeddings.Grad;
        for (int b = 0; b < _b; b++)
            for (int i = 0; i < _lengths[b]; i++)
            {
                int r = _starts[b] + i;
                var g = _dA.AsSpan(r * h, h);
                TensorPrimitives.Add(dWord.AsSpan(_ids[r] * h, h), g, dWord.AsSpan(_ids[r] * h, h));
                TensorPrimitives.Add(dPos.AsSpan(i * h, h), g, dPos.AsSpan(i * h, h));
                TensorPrimitives.Add(dType.AsSpan(_types[r] * h, h), g, dType.AsSpan(_types[r] * h, h));
            }
    }

    private void Prepare(ReadOnlySpan<int> ids, ReadOnlySpan<int> typeIds, ReadOnlySpan<int> lengths)
    {
        // An empty batch is checked first here: training divides by the batch size.
        if (lengths.IsEmpty) throw new ArgumentException("The batch is empty.", nameof(lengths));
        var c = _w.Config;
        BertBatch.Check(c, ids, typeIds, lengths);

        _t = ids.Length;
        _b = lengths.Length;
        Ensure(_t, _b);
        ids.CopyTo(_ids);
        if (typeIds.IsEmpty) Array.Clear(_types, 0, _t); else typeIds.CopyTo(_types);
        lengths.CopyTo(_lengths);
        long probs = 0;
        for (int b = 0, s = 0; b < _b; s += _lengths[b], b++)
        {
            _starts[b] = s;
            _probOffsets[b] = checked((int)probs);
            probs += (long)c.Heads * _lengths[b] * _lengths[b];
        }
        if (probs > _probCapacity)
        {
            _probCapacity = Math.Max(probs, 2 * _probCapacity);
            for (int l = 0; l < c.Layers; l++) _probs[l] = GC.AllocateUninitializedArray<float>(checked((int)_probCapacity), pinned: true);
        }
    }

    private void Ensure(int tokens, int batch)
    {
        var c = _w.Config;
        int h = c.Hidden, inter = c.Intermediate;
        if (_ids.Length < tokens) { _ids = new int[tokens]; _types = new int[tokens]; }
        if (_lengths.Length < batch)
        {
            _lengths = new int[batch]; _starts = new int[batch]; _probOffsets = new int[batch];
            _pooled = new float[batch * h]; _embeddings = new float[batch * h]; _norms = new float[batch];
        }
        if (tokens <= _capacity) return;
        int cap = Math.Max(tokens, _capacity * 2);
        float[] New(int n) => GC.AllocateUninitializedArray<float>(checked(cap * n), pinned: true);
        _embSum = New(h); _x0 = New(h);
        for (int l = 0; l < c.Layers; l++)
        {
            _q[l] = New(h); _k[l] = New(h); _v[l] = New(h); _ctx[l] = New(h);
            _attnSum[l] = New(h); _x1[l] = New(h); _outSum[l] = New(h); _out[l] = New(h);
            _ffnPre[l] = New(inter); _ffnAct[l] = New(inter);
        }
        _dx = New(h); _dA = New(h); _dB = New(h); _dC = New(h); _dq = New(h); _dk = New(h); _dv = New(h); _dF = New(inter);
        _capacity = cap;
    }

    // y = x·wᵀ + bias for t rows; F32 weights go through the inference product (no activation rounding).
    private void Linear(float[] y, float[] x, LoraParameter w, LoraParameter bias, int t)
    {
        int n = w.Shape[0];
        fixed (float* pw = w.Values)
        {
            var view = new TensorView((byte*)pw, GgmlType.F32, n, w.Shape[1]);
            MatMul.Forward(_pool, Ptr(y), Ptr(x), view, t, null);
        }
        for (int r = 0; r < t; r++)
        {
            var row = y.AsSpan(r * n, n);
            TensorPrimitives.Add(row, bias.Values, row);
        }
    }

    // Backward of y = x·wᵀ + b: dx += dy·w, dw += dyᵀ·x, db += Σ_rows dy.
    private void LinearBackward(float[] dx, float[] dy, float[] x, LoraParameter w, LoraParameter bias, int t)
    {
        int n = w.Shape[0], k = w.Shape[1];
        fixed (float* pw = w.Values, pdw = w.Grad)
        {
            var view = new TensorView((byte*)pw, GgmlType.F32, n, k);
            MatMul.BackwardInput(_pool, Ptr(dx), Ptr(dy), view, t, null);
            MatMul.BackwardWeight(_pool, pdw, Ptr(dy), Ptr(x), t, n, k, 1f);
        }
        var db = bias.Grad.AsSpan();
        for (int r = 0; r < t; r++) TensorPrimitives.Add(db, dy.AsSpan(r * n, n), db);
    }

    // dx[r] = LayerNorm backward of row r (statistics recomputed from the forward input x), weight/bias grads accumulated.
    private void LayerNormRowsBackward(float[] dx, float[] dy, float[] x, LoraParameter weight, LoraParameter bias, int t)
    {
        int h = _w.Config.Hidden;
        for (int r = 0; r < t; r++)
            Norms.LayerNormBackward(dx.AsSpan(r * h, h), weight.Grad, bias.Grad, dy.AsSpan(r * h, h), x.AsSpan(r * h, h), weight.Values, _w.Config.LayerNormEps, _lnScratch);
    }

    private void RunAttention(bool forward, int l)
    {
        var c = _w.Config;
        _attention.Set(forward, this, l);
        try { _pool.For(_b * c.Heads, _attention); }
        finally { _attention.Clear(); }
    }

    private static float* Ptr(float[] pinned) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));

    /// <inheritdoc/>
    public void Dispose() => _pool.Dispose();

    /// <summary>
    /// Bidirectional scaled dot-product attention of one (sequence, head) per unit, within the sequence only. Forward
    /// keeps the probabilities; backward (overwriting dq, dk, dv of its rows and head columns, which no other unit
    /// touches): dp_j = dctx_i · v_j, ds_j = p_j (dp_j − Σ p·dp), dq_i = Σ ds_j k_j / √d, dk_j += ds_j q_i / √d, dv_j += p_j dctx_i.
    /// </summary>
    private sealed class AttentionJob : IRangeJob
    {
        private BertTrainingSession? _s;
        private bool _forward;
        private int _layer;

        public void Set(bool forward, BertTrainingSession session, int layer) => (_forward, _s, _layer) = (forward, session, layer);

        public void Clear() => _s = null;

        public void Execute(int begin, int end)
        {
            var s = _s!;
            var c = s._w.Config;
            for (int u = begin; u < end; u++)
            {
                int b = u / c.Heads, head = u % c.Heads;
                if (_forward) Forward(s, c, b, head);
                else Backward(s, c, b, head);
            }
        }

        private void Forward(BertTrainingSession s, BertConfig c, int b, int head)
        {
            int n = s._lengths[b], d = c.HeadDim, hid = c.Hidden, s0 = s._starts[b];
            float scale = 1f / MathF.Sqrt(d);
            var q = s._q[_layer]; var k = s._k[_layer]; var v = s._v[_layer]; var ctx = s._ctx[_layer];
            var probs = s._probs[_layer].AsSpan(s._probOffsets[b] + head * n * n, n * n);
            for (int i = 0; i < n; i++)
            {
                var qi = q.AsSpan((s0 + i) * hid + head * d, d);
                var p = probs.Slice(i * n, n);
                for (int j = 0; j < n; j++) p[j] = TensorPrimitives.Dot<float>(qi, k.AsSpan((s0 + j) * hid + head * d, d)) * scale;
                Softmax.Forward(p);
                var o = ctx.AsSpan((s0 + i) * hid + head * d, d);
                o.Clear();
                for (int j = 0; j < n; j++) TensorPrimitives.MultiplyAdd(v.AsSpan((s0 + j) * hid + head * d, d), p[j], o, o);
            }
        }

        private void Backward(BertTrainingSession s, BertConfig c, int b, int head)
        {
            int n = s._lengths[b], d = c.HeadDim, hid = c.Hidden, s0 = s._starts[b];
            float scale = 1f / MathF.Sqrt(d);
            var q = s._q[_layer]; var k = s._k[_layer]; var v = s._v[_layer];
            var dctx = s._dC; var dq = s._dq; var dk = s._dk; var dv = s._dv;
            var probs = s._probs[_layer].AsSpan(s._probOffsets[b] + head * n * n, n * n);
            for (int i = 0; i < n; i++)
            {
                dq.AsSpan((s0 + i) * hid + head * d, d).Clear();
                dk.AsSpan((s0 + i) * hid + head * d, d).Clear();
                dv.AsSpan((s0 + i) * hid + head * d, d).Clear();
            }
            float[]? rented = null;
            Span<float> ds = n <= 1024 ? stackalloc float[n] : (rented = new float[n]);
            for (int i = 0; i < n; i++)
            {
                var p = probs.Slice(i * n, n);
                var dci = dctx.AsSpan((s0 + i) * hid + head * d, d);
                float sum = 0;
                for (int j = 0; j < n; j++)
                {
                    ds[j] = TensorPrimitives.Dot<float>(dci, v.AsSpan((s0 + j) * hid + head * d, d));
                    sum += p[j] * ds[j];
                }
                var qi = q.AsSpan((s0 + i) * hid + head * d, d);
                var dqi = dq.AsSpan((s0 + i) * hid + head * d, d);
                for (int j = 0; j < n; j++)
                {
                    float g = p[j] * (ds[j] - sum) * scale;
                    var dkj = dk.AsSpan((s0 + j) * hid + head * d, d);
                    var dvj = dv.AsSpan((s0 + j) * hid + head * d, d);
                    TensorPrimitives.MultiplyAdd(k.AsSpan((s0 + j) * hid + head * d, d), g, dqi, dqi);
                    TensorPrimitives.MultiplyAdd(qi, g, dkj, dkj);
                    TensorPrimitives.MultiplyAdd(dci, p[j], dvj, dvj);
                }
            }
            GC.KeepAlive(rented);
        }
    }
}
