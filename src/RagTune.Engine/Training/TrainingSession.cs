using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;

namespace RagTune.Engine.Training;

/// <summary>Run-time settings of a <see cref="TrainingSession"/>, validated at start.</summary>
/// <param name="BatchSize">Sequences per call, B (a call may pass fewer).</param>
/// <param name="SeqLen">Tokens per sequence, T; every sequence starts at position 0.</param>
/// <param name="Threads">Compute threads; 0 means one per processor.</param>
/// <param name="Recompute">Activation checkpointing: keep only each block's input and recompute the block during backward
/// (one block's activations instead of L; about one extra forward pass of compute).</param>
/// <param name="Seed">Seed of the LoRA dropout masks.</param>
public sealed record TrainingOptions(int BatchSize = 4, int SeqLen = 256, int Threads = 0, bool Recompute = false, ulong Seed = 0)
{
    /// <summary>Checks ranges against the model and fills in the thread count.</summary>
    internal TrainingOptions Resolve(ModelConfig config)
    {
        if (BatchSize is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "Batch size must be between 1 and 4096 sequences.");
        if (SeqLen < 1 || SeqLen > config.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(SeqLen), SeqLen, $"Sequence length must be between 1 and the model's context length {config.ContextLength}.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (one per processor) or positive.");
        return this with { Threads = Threads == 0 ? Environment.ProcessorCount : Threads };
    }
}

/// <summary>
/// LoRA training state over a frozen <see cref="TransformerModel"/> of any supported weight type (F32, F16, BF16, Q8_0,
/// Q4_0: gradients flow through quantized weights QLoRA-style, by expanding a few rows at a time). Forward and backward
/// are written out llm.c-style: the backward pass calls the layers in exact reverse order of the forward pass.
/// Every buffer is carved from one native allocation at construction; a step allocates nothing after warm-up.
/// Not thread-safe.
/// </summary>
/// <remarks>
/// Memory (bytes) = 4 · { N·[(L+1)·D + S·(3D + C + 2Q + 2K + 3F + 7r + H·T) + D + V + (2D + 2Q + 2K + 3F) + 2W + r + 1]
/// + threads·G + T² + D + T·hd }, with N = B·T token rows, D width, Q = H·hd, K = Hkv·hd, F ffn width, V vocab,
/// L blocks, H query heads, r rank, W = max(D, Q, F), G the GEMM panels of one thread (MatMul.TrainingScratchFloats, 223,232
/// floats), C = D with a canon layer (its output is kept) and 0 without, and S = L, or S = 1 with
/// <see cref="TrainingOptions.Recompute"/>. The terms: block inputs (residual stream, always kept); per-block saved
/// activations (normed inputs, q/k/v, attention output and probabilities [H, T] per row, FFN gate/up/product, LoRA
/// hidden states); final norm and logits [N, V]; gradient buffers of one block; LoRA scratch; per-thread scratch.
/// The attention probabilities (H·T per row) dominate for long sequences, the logits for large vocabularies;
/// Recompute saves (L − 1)·N·(3D + 2Q + 2K + 3F + 7r + H·T) floats (7r: LoRA hidden states of all seven targets are reserved). See <see cref="EstimateBytes(ModelConfig, int, TrainingOptions)"/>.
/// </remarks>
public sealed unsafe class TrainingSession : IDisposable
{
    // Dimension legend: B sequences, T tokens each, N = B·T rows, D width, Q = H·hd, K = Hkv·hd, F ffn, V vocab,
    // L blocks, r LoRA rank, W = max(D, Q, F).
    private readonly TransformerModel _model;
    private readonly LoraAdapter? _adapter;     // LoRA: the trained factors over a frozen base
    private readonly FullModelParameters? _full; // full fine-tuning: every weight trains (F32 only)
    private readonly KernelThreadPool _pool;
    private readonly void* _block;
    private readonly int _n, _w, _sets;
    private readonly float* _residual;   // [L+1, N, D] input of each block; [L] is the final stream
    private readonly LayerActivations[] _acts; // [S]
    private readonly float* _xnF;        // [N, D] final normed stream
    private readonly float* _logits;     // [N, V] logits, turned into their gradient in place
    private readonly float* _dres;       // [N, D] gradient of the residual stream
    private readonly float* _dxn;        // [N, D] gradient of a normed input
    private readonly float* _dq;         // [N, Q]
    private readonly float* _dk;         // [N, K]
    private readonly float* _dv;         // [N, K]
    private readonly float* _dAtt;       // [N, Q] gradient of the attention output
    private readonly float* _dGate;      // [N, F]
    private readonly float* _dUp;        // [N, F]
    private readonly float* _dHact;      // [N, F]
    private readonly float* _xd;         // [N, W] dropped-out LoRA input
    private readonly float* _tmp;        // [N, W] LoRA branch output / input gradient
    private readonly float* _dh;         // [N, r] gradient of the LoRA hidden state
    private readonly float* _mmScratch;  // MatMul.TrainingScratchFloats(threads)
    private readonly float* _attScratch; // Attention.BackwardScratchFloats(T)
    private readonly float* _rowScratch; // [D] norm scratch
    private readonly float* _rowLoss;    // [N] loss of each row
    private readonly float* _ropeCos;    // [T, hd/2] RoPE table by position
    private readonly float* _ropeSin;    // [T, hd/2]
    private readonly CrossEntropyJob _ceJob = new();
    private long _step;
    private bool _disposed;

    private struct LayerActivations
    {
        public float* Xn1;    // [N, D] attention norm output
        public float* Xc;     // [N, D] canon layer output (the Q/K/V input); Xn1 itself when the model has none
        public float* Q;      // [N, Q] after RoPE
        public float* K;      // [N, K] after RoPE
        public float* V;      // [N, K]
        public float* Probs;  // [B, H, T, T]
        public float* AttOut; // [N, Q]
        public float* X2;     // [N, D] stream after the attention residual
        public float* Xn2;    // [N, D] ffn norm output
        public float* Gate;   // [N, F]
        public float* Up;     // [N, F]
        public float* Hact;   // [N, F] silu(gate)·up
        public float* LoraH;  // [7, N, r] A·x per target
    }

    /// <summary>Allocates the run state for <paramref name="options"/>; the adapter must match the model.</summary>
    public TrainingSession(TransformerModel model, LoraAdapter adapter, TrainingOptions? options = null)
        : this(model, adapter ?? throw new ArgumentNullException(nameof(adapter)), null, options)
    {
    }

    /// <summary>
    /// Full fine-tuning: every weight of <paramref name="full"/> gets a gradient (embeddings, norms, projections and
    /// biases, output), accumulated into its <see cref="LoraParameter.Grad"/>. No LoRA, no dropout.
    /// </summary>
    public TrainingSession(FullModelParameters full, TrainingOptions? options = null)
        : this((full ?? throw new ArgumentNullException(nameof(full))).Model, null, full, options)
    {
    }

    private TrainingSession(TransformerModel model, LoraAdapter? adapter, FullModelParameters? full, TrainingOptions? options)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _adapter = adapter;
        _full = full;
        var c = model.Config;
        adapter?.Validate(c);
        Options = (options ?? new TrainingOptions()).Resolve(c);
        _pool = new KernelThreadPool(Options.Threads);

        int b = Options.BatchSize, t = Options.SeqLen, r = adapter?.Config.Rank ?? 0;
        _n = b * t;
        _w = Math.Max(c.Dim, Math.Max(c.QDim, c.HiddenDim));
        _sets = Options.Recompute ? 1 : c.Layers;
        long n = _n, d = c.Dim, q = c.QDim, k = c.KvDim, f = c.HiddenDim;
        var sizes = new List<long> { (c.Layers + 1) * n * d };
        for (int s = 0; s < _sets; s++)
            sizes.AddRange([n * d, n * q, n * k, n * k, (long)b * c.Heads * t * t, n * q, n * d, n * d, n * f, n * f, n * f, 7 * n * r, c.CanonKernel > 0 ? n * d : 0]);
        sizes.AddRange([n * d, n * c.VocabSize, n * d, n * d, n * q, n * k, n * k, n * q, n * f, n * f, n * f, n * _w, n * _w, n * r,
            MatMul.TrainingScratchFloats(Options.Threads), Attention.BackwardScratchFloats(t), d, n, (long)t * (c.HeadDim / 2), (long)t * (c.HeadDim / 2)]);
        long total = 0;
        foreach (var s in sizes) total += Align(s * sizeof(float));
        _block = NativeMemory.AlignedAlloc((nuint)total, 64);
        NativeMemory.Clear(_block, (nuint)total);
        GC.AddMemoryPressure(total);
        AllocatedBytes = total;

        byte* p = (byte*)_block;
        int i = 0;
        float* Next() { var res = (float*)p; p += Align(sizes[i++] * sizeof(float)); return res; }
        _residual = Next();
        _acts = new LayerActivations[_sets];
        for (int s = 0; s < _sets; s++)
            _acts[s] = new LayerActivations
            {
                Xn1 = Next(), Q = Next(), K = Next(), V = Next(), Probs = Next(), AttOut = Next(), X2 = Next(), Xn2 = Next(),
                Gate = Next(), Up = Next(), Hact = Next(), LoraH = Next(), Xc = Next(),
            };
        for (int s = 0; s < _sets && c.CanonKernel == 0; s++) _acts[s].Xc = _acts[s].Xn1;
        _xnF = Next(); _logits = Next(); _dres = Next(); _dxn = Next(); _dq = Next(); _dk = Next(); _dv = Next(); _dAtt = Next();
        _dGate = Next(); _dUp = Next(); _dHact = Next(); _xd = Next(); _tmp = Next(); _dh = Next();
        _mmScratch = Next(); _attScratch = Next(); _rowScratch = Next(); _rowLoss = Next(); _ropeCos = Next(); _ropeSin = Next();
        int half = c.HeadDim / 2;
        Rope.Table(new Span<float>(_ropeCos, t * half), new Span<float>(_ropeSin, t * half), t, model.InverseFrequencies);
    }

    private static long Align(long bytes) => (bytes + 63) & ~63L;

    /// <summary>The resolved options.</summary>
    public TrainingOptions Options { get; }

    /// <summary>The adapter being trained (null in full fine-tuning).</summary>
    public LoraAdapter? Adapter => _adapter;

    /// <summary>The weights being trained in full fine-tuning (null for LoRA).</summary>
    internal FullModelParameters? Full => _full;

    /// <summary>Native bytes held by the run state (see the memory formula in the remarks).</summary>
    public long AllocatedBytes { get; }

    /// <summary>The memory formula of the remarks, for planning before constructing a session (within alignment padding).</summary>
    public static long EstimateBytes(ModelConfig c, LoraConfig lora, TrainingOptions options) => EstimateBytes(c, lora.Rank, options);

    /// <summary>The memory formula with rank <paramref name="rank"/> (0 for full fine-tuning, whose parameters are counted apart).</summary>
    public static long EstimateBytes(ModelConfig c, int rank, TrainingOptions options)
    {
        long n = (long)options.BatchSize * options.SeqLen, d = c.Dim, q = c.QDim, k = c.KvDim, f = c.HiddenDim, v = c.VocabSize, r = rank;
        long w = Math.Max(d, Math.Max(q, f)), s = options.Recompute ? 1 : c.Layers;
        int threads = options.Threads == 0 ? Environment.ProcessorCount : options.Threads;
        long canon = c.CanonKernel > 0 ? d : 0;
        long floats = n * ((c.Layers + 1) * d + s * (3 * d + canon + 2 * q + 2 * k + 3 * f + 7 * r + (long)c.Heads * options.SeqLen) + d + v
            + (2 * d + 2 * q + 2 * k + 3 * f) + 2 * w + r + 1) + MatMul.TrainingScratchFloats(threads) + (long)options.SeqLen * options.SeqLen + d + (long)options.SeqLen * c.HeadDim;
        return 4 * floats;
    }

    /// <summary>
    /// The counter the LoRA dropout masks are keyed on (with <see cref="TrainingOptions.Seed"/>); each
    /// <see cref="ForwardBackward"/> call increments it first. Restore it when resuming to replay the same masks.
    /// </summary>
    public long DropoutStep { get => _step; set => _step = value; }

    /// <summary>Clears the trained parameters' gradients.</summary>
    public void ZeroGrad()
    {
        _adapter?.ZeroGrad();
        _full?.ZeroGrad();
    }

    /// <summary>
    /// Forward and backward pass over <paramref name="inputs"/> [b, T] (b ≤ B sequences of <see cref="TrainingOptions.SeqLen"/>
    /// tokens): returns the mean cross-entropy over the unmasked <paramref name="targets"/> [b, T] (−1 = masked) and
    /// ACCUMULATES the gradient of <paramref name="lossScale"/> × that mean into the adapter's <see cref="LoraParameter.Grad"/>
    /// (gradient accumulation over k calls: pass 1/k, then one optimizer step). LoRA dropout is on.
    /// Returns 0 and adds nothing when every target is masked.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, float lossScale = 1f)
    {
        int rows = Check(inputs, targets, requireTargets: true);
        int count = CountTargets(targets);
        _step++;
        ForwardBody(inputs, rows, train: true);
        if (count == 0) return 0f;

        var c = _model.Config;
        var w = _model.Weights;
        int n = rows * Options.SeqLen, d = c.Dim;
        double loss = CrossEntropy(targets, n, lossScale / count);

        // ---- backward, the forward in reverse: logits ← final norm ← blocks L-1 … 0
        new Span<float>(_dxn, n * d).Clear();
        MatMul.BackwardInput(_pool, _dxn, _logits, w.Output, n, _mmScratch);
        if (_full != null) MatMul.BackwardWeight(_pool, _full.OutputGrad, _logits, _xnF, n, c.VocabSize, d, 1f);
        new Span<float>(_dres, n * d).Clear();
        float* xL = _residual + (long)c.Layers * _n * d;
        for (int t = 0; t < n; t++)
        {
            Norms.RmsNormBackward(Row(_dres, t, d), Row(_dxn, t, d), Row(xL, t, d), w.OutputNorm.AsFloats(), c.NormEps, new Span<float>(_rowScratch, d));
            if (_full != null) Norms.RmsNormWeightBackward(new Span<float>(_full.OutputNormGrad, d), Row(_dxn, t, d), Row(xL, t, d), c.NormEps, new Span<float>(_rowScratch, d));
        }
        for (int l = c.Layers - 1; l >= 0; l--)
        {
            ref var a = ref _acts[Options.Recompute ? 0 : l];
            if (Options.Recompute) LayerForward(l, ref a, rows, train: true);
            LayerBackward(l, ref a, rows);
        }
        if (_full != null)
        {
            // The embedding lookup's backward: each row's stream gradient goes to the row of its token.
            float* dEmb = _full.EmbeddingGrad;
            for (int t = 0; t < n; t++)
            {
                var dst = new Span<float>(dEmb + (long)inputs[t] * d, d);
                TensorPrimitives.Add(dst, Row(_dres, t, d), dst);
            }
        }
        return (float)(loss / count);
    }

    /// <summary>Mean cross-entropy over the unmasked targets, without dropout or gradients (evaluation).</summary>
    public float Loss(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets)
    {
        int rows = Check(inputs, targets, requireTargets: true);
        int count = CountTargets(targets);
        ForwardBody(inputs, rows, train: false);
        double loss = CrossEntropy(targets, rows * Options.SeqLen, dLoss: 0f);
        return count == 0 ? 0f : (float)(loss / count);
    }

    /// <summary>Logits [b·T, V] of the base model with the adapter applied (evaluation mode, no dropout).</summary>
    public void Forward(ReadOnlySpan<int> inputs, Span<float> logits)
    {
        int rows = Check(inputs, default, requireTargets: false);
        int v = _model.Config.VocabSize, n = rows * Options.SeqLen;
        if (logits.Length < (long)n * v) throw new ArgumentException($"Need room for {n} x {v} logits.", nameof(logits));
        ForwardBody(inputs, rows, train: false);
        new ReadOnlySpan<float>(_logits, n * v).CopyTo(logits);
    }

    private int Check(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, bool requireTargets)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int t = Options.SeqLen, v = _model.Config.VocabSize;
        if (inputs.Length == 0 || inputs.Length % t != 0 || inputs.Length / t > Options.BatchSize)
            throw new ArgumentException($"Inputs hold {inputs.Length} tokens; pass b·{t} tokens with 1 ≤ b ≤ {Options.BatchSize} (pad short sequences and mask their targets with -1).", nameof(inputs));
        if ((requireTargets || !targets.IsEmpty) && targets.Length != inputs.Length)
            throw new ArgumentException($"Targets hold {targets.Length} tokens but inputs hold {inputs.Length}; they must match.", nameof(targets));
        foreach (var id in inputs)
            if ((uint)id >= (uint)v) throw new ArgumentOutOfRangeException(nameof(inputs), id, $"Token id {id} is outside the vocabulary [0, {v}).");
        foreach (var id in targets)
            if (id < -1 || id >= v) throw new ArgumentOutOfRangeException(nameof(targets), id, $"Target {id} is outside the vocabulary [0, {v}) and is not -1 (masked).");
        return inputs.Length / t;
    }

    /// <summary>Loss of every row, parallel over rows; the logits become their gradient scaled by <paramref name="dLoss"/>.
    /// Row losses are summed in order, in double, so the result does not depend on the thread count.</summary>
    private double CrossEntropy(ReadOnlySpan<int> targets, int n, float dLoss)
    {
        fixed (int* pt = targets)
        {
            _ceJob.Set(_logits, _rowLoss, pt, _model.Config.VocabSize, dLoss);
            try { _pool.For(n, _ceJob, 4); }
            finally { _ceJob.Clear(); }
        }
        double loss = 0;
        for (int t = 0; t < n; t++) loss += _rowLoss[t];
        return loss;
    }

    private sealed class CrossEntropyJob : IRangeJob
    {
        private float* _logits, _loss;
        private int* _targets;
        private int _v;
        private float _dLoss;

        public void Set(float* logits, float* loss, int* targets, int v, float dLoss) { _logits = logits; _loss = loss; _targets = targets; _v = v; _dLoss = dLoss; }

        public void Clear() { _logits = _loss = null; _targets = null; }

        public void Execute(int start, int end)
        {
            for (int t = start; t < end; t++)
                _loss[t] = Softmax.CrossEntropyBackward(new Span<float>(_logits + (long)t * _v, _v), _targets[t], _dLoss);
        }
    }

    private static int CountTargets(ReadOnlySpan<int> targets)
    {
        int count = 0;
        foreach (var id in targets) if (id >= 0) count++;
        return count;
    }

    // ---------------------------------------------------------------- forward

    private void ForwardBody(ReadOnlySpan<int> inputs, int rows, bool train)
    {
        var c = _model.Config;
        var w = _model.Weights;
        int n = rows * Options.SeqLen, d = c.Dim;
        for (int t = 0; t < n; t++)
            Quant.DequantizeRow(w.TokenEmbedding.Type, w.TokenEmbedding.Row(inputs[t]), Row(_residual, t, d));
        for (int l = 0; l < c.Layers; l++)
            LayerForward(l, ref _acts[Options.Recompute ? 0 : l], rows, train);
        float* xL = _residual + (long)c.Layers * _n * d;
        for (int t = 0; t < n; t++)
            Norms.RmsNorm(Row(_xnF, t, d), Row(xL, t, d), w.OutputNorm.AsFloats(), c.NormEps);
        MatMul.ForwardDequantized(_pool, _logits, _xnF, w.Output, n, _mmScratch);
    }

    private void LayerForward(int l, ref LayerActivations a, int rows, bool train)
    {
        var c = _model.Config;
        var L = _model.Weights.Layers[l];
        int seq = Options.SeqLen, n = rows * seq, d = c.Dim, qd = c.QDim, kd = c.KvDim, f = c.HiddenDim;
        float* x = _residual + (long)l * _n * d;
        float* xNext = x + (long)_n * d;

        // Attention sublayer: x2 = x + Wo·attn(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
        for (int t = 0; t < n; t++)
            Norms.RmsNorm(Row(a.Xn1, t, d), Row(x, t, d), L.AttnNorm.AsFloats(), c.NormEps);
        if (c.CanonKernel > 0)
            for (int b = 0; b < rows; b++) // each sequence starts at position 0: no history before it
                Canon.Forward(Row(a.Xc, b, seq * d), Row(a.Xn1, b, seq * d), 0, seq, L.Canon.AsFloats(), d);
        Linear(a.Q, a.Xc, L.Wq, l, LoraTargets.Q, a.LoraH, n, train);
        Linear(a.K, a.Xc, L.Wk, l, LoraTargets.K, a.LoraH, n, train);
        Linear(a.V, a.Xc, L.Wv, l, LoraTargets.V, a.LoraH, n, train);
        int half = c.HeadDim / 2;
        for (int t = 0; t < n; t++)
        {
            if (!L.Bq.IsEmpty)
            {
                TensorPrimitives.Add(Row(a.Q, t, qd), L.Bq.AsFloats(), Row(a.Q, t, qd));
                TensorPrimitives.Add(Row(a.K, t, kd), L.Bk.AsFloats(), Row(a.K, t, kd));
                TensorPrimitives.Add(Row(a.V, t, kd), L.Bv.AsFloats(), Row(a.V, t, kd));
            }
            var cos = Row(_ropeCos, t % seq, half);
            var sin = Row(_ropeSin, t % seq, half);
            Rope.ApplyTable(Row(a.Q, t, qd), c.Heads, c.HeadDim, cos, sin, c.Rope, inverse: false);
            Rope.ApplyTable(Row(a.K, t, kd), c.KvHeads, c.HeadDim, cos, sin, c.Rope, inverse: false);
        }
        Attention.ForwardTraining(_pool, a.AttOut, a.Probs, a.Q, a.K, a.V, rows, seq, c.Heads, c.KvHeads, c.HeadDim);
        Linear(a.X2, a.AttOut, L.Wo, l, LoraTargets.O, a.LoraH, n, train);
        TensorPrimitives.Add(Rows(a.X2, n, d), Rows(x, n, d), Rows(a.X2, n, d));

        // Feed-forward sublayer: x' = x2 + Wdown·(silu(Wgate·norm(x2)) ⊙ Wup·norm(x2))
        for (int t = 0; t < n; t++)
            Norms.RmsNorm(Row(a.Xn2, t, d), Row(a.X2, t, d), L.FfnNorm.AsFloats(), c.NormEps);
        Linear(a.Gate, a.Xn2, L.Gate, l, LoraTargets.Gate, a.LoraH, n, train);
        Linear(a.Up, a.Xn2, L.Up, l, LoraTargets.Up, a.LoraH, n, train);
        Activations.SwiGlu(Rows(a.Hact, n, f), Rows(a.Gate, n, f), Rows(a.Up, n, f));
        Linear(xNext, a.Hact, L.Down, l, LoraTargets.Down, a.LoraH, n, train);
        TensorPrimitives.Add(Rows(xNext, n, d), Rows(a.X2, n, d), Rows(xNext, n, d));
    }

    /// <summary>y = x·Wᵀ + scaling · (dropout(x)·Aᵀ)·Bᵀ; keeps h = dropout(x)·Aᵀ for the backward pass.</summary>
    private void Linear(float* y /*[N, out]*/, float* x /*[N, in]*/, in TensorView weight, int layer, LoraTargets target, float* loraH, int n, bool train)
    {
        MatMul.ForwardDequantized(_pool, y, x, weight, n, _mmScratch);
        if (_adapter?.Module(layer, target) is not { } m) return;
        int r = _adapter.Config.Rank;
        float* h = loraH + (long)LoraTargetNames.Index(target) * _n * r;
        float* xin = train && _adapter.Config.Dropout > 0 ? Dropout(x, layer, target, m.In, n) : x;
        fixed (float* pa = m.A.Values)
        fixed (float* pb = m.B.Values)
        {
            MatMul.ForwardDequantized(_pool, h, xin, new TensorView((byte*)pa, GgmlType.F32, r, m.In), n, _mmScratch);
            MatMul.ForwardDequantized(_pool, _tmp, h, new TensorView((byte*)pb, GgmlType.F32, m.Out, r), n, _mmScratch);
        }
        TensorPrimitives.MultiplyAdd(Rows(_tmp, n, m.Out), _adapter.Scaling, Rows(y, n, m.Out), Rows(y, n, m.Out));
    }

    /// <summary>Inverted dropout into <see cref="_xd"/>: keep with probability 1 − p, scaled by 1/(1 − p). The mask is a
    /// hash of (seed, step, layer, target, element), so the recomputed forward and the backward pass see the same one.</summary>
    private float* Dropout(float* x, int layer, LoraTargets target, int width, int n)
    {
        float p = _adapter!.Config.Dropout, keep = 1f / (1f - p);
        ulong key = TrainingRandom.Key(Options.Seed, _step, layer, LoraTargetNames.Index(target));
        long count = (long)n * width;
        for (long i = 0; i < count; i++)
            _xd[i] = TrainingRandom.Hash(key, i) < p ? 0f : x[i] * keep;
        return _xd;
    }

    // ---------------------------------------------------------------- backward

    private void LayerBackward(int l, ref LayerActivations a, int rows)
    {
        var c = _model.Config;
        var L = _model.Weights.Layers[l];
        int seq = Options.SeqLen, n = rows * seq, d = c.Dim, qd = c.QDim, kd = c.KvDim, f = c.HiddenDim;
        float* x = _residual + (long)l * _n * d;
        var norm = new Span<float>(_rowScratch, d);

        // Feed-forward sublayer, reversed. _dres is dL/dx' and, through the residual, already dL/dx2's direct part.
        new Span<float>(_dHact, n * f).Clear();
        LinearBackward(_dHact, _dres, a.Hact, L.Down, l, LoraTargets.Down, a.LoraH, n);
        Activations.SwiGluBackward(Rows(_dGate, n, f), Rows(_dUp, n, f), Rows(_dHact, n, f), Rows(a.Gate, n, f), Rows(a.Up, n, f));
        new Span<float>(_dxn, n * d).Clear();
        LinearBackward(_dxn, _dGate, a.Xn2, L.Gate, l, LoraTargets.Gate, a.LoraH, n);
        LinearBackward(_dxn, _dUp, a.Xn2, L.Up, l, LoraTargets.Up, a.LoraH, n);
        for (int t = 0; t < n; t++)
        {
            Norms.RmsNormBackward(Row(_dres, t, d), Row(_dxn, t, d), Row(a.X2, t, d), L.FfnNorm.AsFloats(), c.NormEps, norm);
            if (_full != null) Norms.RmsNormWeightBackward(new Span<float>(_full.FfnNormGrad(l), d), Row(_dxn, t, d), Row(a.X2, t, d), c.NormEps, norm);
        }

        // Attention sublayer, reversed. _dres is now dL/dx2 = the direct part of dL/dx.
        new Span<float>(_dAtt, n * qd).Clear();
        LinearBackward(_dAtt, _dres, a.AttOut, L.Wo, l, LoraTargets.O, a.LoraH, n);
        Attention.Backward(_pool, _dq, _dk, _dv, _dAtt, a.Probs, a.Q, a.K, a.V, rows, seq, c.Heads, c.KvHeads, c.HeadDim, _attScratch);
        int half = c.HeadDim / 2;
        for (int t = 0; t < n; t++)
        {
            var cos = Row(_ropeCos, t % seq, half);
            var sin = Row(_ropeSin, t % seq, half);
            Rope.ApplyTable(Row(_dq, t, qd), c.Heads, c.HeadDim, cos, sin, c.Rope, inverse: true);
            Rope.ApplyTable(Row(_dk, t, kd), c.KvHeads, c.HeadDim, cos, sin, c.Rope, inverse: true);
        }
        new Span<float>(_dxn, n * d).Clear();
        LinearBackward(_dxn, _dq, a.Xc, L.Wq, l, LoraTargets.Q, a.LoraH, n);
        LinearBackward(_dxn, _dk, a.Xc, L.Wk, l, LoraTargets.K, a.LoraH, n);
        LinearBackward(_dxn, _dv, a.Xc, L.Wv, l, LoraTargets.V, a.LoraH, n);
        if (c.CanonKernel > 0)
        {
            // _dxn holds dL/dXc; through the canon layer into _tmp (free after the LoRA branches), then back.
            var dCanon = _full != null ? new Span<float>(_full.CanonGrad(l), c.CanonKernel * d) : default;
            new Span<float>(_tmp, n * d).Clear();
            for (int b = 0; b < rows; b++)
                Canon.Backward(Row(_tmp, b, seq * d), dCanon, Row(_dxn, b, seq * d), Row(a.Xn1, b, seq * d), L.Canon.AsFloats(), seq, d);
            new Span<float>(_tmp, n * d).CopyTo(new Span<float>(_dxn, n * d));
        }
        for (int t = 0; t < n; t++)
        {
            Norms.RmsNormBackward(Row(_dres, t, d), Row(_dxn, t, d), Row(x, t, d), L.AttnNorm.AsFloats(), c.NormEps, norm);
            if (_full != null) Norms.RmsNormWeightBackward(new Span<float>(_full.AttnNormGrad(l), d), Row(_dxn, t, d), Row(x, t, d), c.NormEps, norm);
        }
    }

    /// <summary>
    /// Backward of <see cref="Linear"/>: dx += dy·W (frozen) + (dropout mask) ⊙ (dh·A) with dh = scaling·dy·B;
    /// dB += scaling·dyᵀ·h; dA += dhᵀ·dropout(x).
    /// </summary>
    private void LinearBackward(float* dx /*[N, in]*/, float* dy /*[N, out]*/, float* x /*[N, in]*/, in TensorView weight, int layer,
        LoraTargets target, float* loraH, int n)
    {
        MatMul.BackwardInput(_pool, dx, dy, weight, n, _mmScratch);
        if (_full != null)
        {
            int outF = checked((int)weight.Rows);
            MatMul.BackwardWeight(_pool, _full.WeightGrad(layer, target), dy, x, n, outF, weight.Cols, 1f);
            if (_full.BiasGrad(layer, target) is var db && db != null)
            {
                var dbSpan = new Span<float>(db, outF);
                for (int t = 0; t < n; t++) TensorPrimitives.Add(dbSpan, Row(dy, t, outF), dbSpan);
            }
        }
        if (_adapter?.Module(layer, target) is not { } m) return;
        int r = _adapter.Config.Rank;
        float s = _adapter.Scaling, p = _adapter.Config.Dropout;
        float* h = loraH + (long)LoraTargetNames.Index(target) * _n * r;
        fixed (float* pa = m.A.Values)
        fixed (float* pb = m.B.Values)
        fixed (float* ga = m.A.Grad)
        fixed (float* gb = m.B.Grad)
        {
            MatMul.BackwardWeight(_pool, gb, dy, h, n, m.Out, r, s);
            new Span<float>(_dh, n * r).Clear();
            MatMul.BackwardInput(_pool, _dh, dy, new TensorView((byte*)pb, GgmlType.F32, m.Out, r), n, _mmScratch);
            TensorPrimitives.Multiply(Rows(_dh, n, r), s, Rows(_dh, n, r));
            float* xin = p > 0 ? Dropout(x, layer, target, m.In, n) : x;
            MatMul.BackwardWeight(_pool, ga, _dh, xin, n, r, m.In, 1f);
            var aView = new TensorView((byte*)pa, GgmlType.F32, r, m.In);
            if (p == 0)
            {
                MatMul.BackwardInput(_pool, dx, _dh, aView, n, _mmScratch);
                return;
            }
            new Span<float>(_tmp, n * m.In).Clear();
            MatMul.BackwardInput(_pool, _tmp, _dh, aView, n, _mmScratch);
            // Through the inverted dropout x' = mask·x/(1 − p): dx += mask·dx'/(1 − p). The mask cannot be read back from
            // _xd (x itself may be 0), so it is redrawn from its hash.
            ulong key = TrainingRandom.Key(Options.Seed, _step, layer, LoraTargetNames.Index(target));
            float keep = 1f / (1f - p);
            long count = (long)n * m.In;
            for (long i = 0; i < count; i++)
                if (TrainingRandom.Hash(key, i) >= p) dx[i] += _tmp[i] * keep;
        }
    }

    private static Span<float> Row(float* basePtr, long row, int width) => new(basePtr + row * width, width);

    private static Span<float> Rows(float* basePtr, int rows, int width) => new(basePtr, rows * width);

    /// <summary>Frees the run state.</summary>
    /// <summary>Bytes allocated so far by this session's worker threads (for allocation tests).</summary>
    internal long WorkerAllocatedBytes => _pool.WorkerAllocatedBytes;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool.Dispose();
        NativeMemory.AlignedFree(_block);
        GC.RemoveMemoryPressure(AllocatedBytes);
    }
}
