using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Threading;
using RagTune.Engine.Training;

namespace RagTune.Engine.Models;

/// <summary>Run-time settings of one inference session, validated at start.</summary>
/// <param name="ContextSize">KV-cache length in tokens; 0 means the model's context length, capped at 16,384.</param>
/// <param name="BatchSize">Tokens processed together during prefill (weights are read once per batch).</param>
/// <param name="Threads">Compute threads; 0 means one per processor.</param>
/// <param name="Slots">
/// Sequences the session holds at once, each with its own KV cache of <paramref name="ContextSize"/> tokens and its
/// own position; <see cref="InferenceSession.Forward(ReadOnlySpan{SlotTokens}, ReadOnlySpan{int})"/> runs tokens of
/// several of them in one pass, each weight read once for all.
/// </param>
public sealed record SessionOptions(int ContextSize = 0, int BatchSize = 64, int Threads = 0, int Slots = 1)
{
    /// <summary>The context a session gets when <see cref="ContextSize"/> is 0: the model's, up to this many tokens.</summary>
    public const int DefaultContextCap = 16_384;

    internal SessionOptions Resolve(ModelConfig config)
    {
        if (ContextSize < 0) throw new ArgumentOutOfRangeException(nameof(ContextSize), ContextSize, "Context size must be 0 (model default) or positive.");
        if (BatchSize is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "Batch size must be between 1 and 4096.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (one per processor) or positive.");
        if (Slots < 1 || Slots > BatchSize) throw new ArgumentOutOfRangeException(nameof(Slots), Slots, $"Slots must be between 1 and the batch size ({BatchSize}): one decode step runs a token of every slot in one batch.");
        int ctx = ContextSize == 0 ? Math.Min(config.ContextLength, DefaultContextCap) : ContextSize;
        return this with { ContextSize = ctx, Threads = Threads == 0 ? Environment.ProcessorCount : Threads };
    }
}

/// <summary>
/// <paramref name="Count"/> consecutive tokens of one slot's sequence in a batched forward pass (a prefill chunk, or
/// the one token a decode step adds).
/// </summary>
public readonly record struct SlotTokens(int Slot, int Count);

/// <summary>Thrown when a sequence would not fit in the session's context window.</summary>
internal sealed class ContextOverflowException(string message) : InvalidOperationException(message);

/// <summary>
/// The third lifetime: per-conversation run state and KV cache over a shared <see cref="TransformerModel"/>.
/// Every buffer is carved from one native allocation at construction, so a forward pass allocates nothing.
/// Not thread-safe. A session holds <see cref="SessionOptions.Slots"/> sequences, each with its own KV cache and
/// position; the single-sequence members (<see cref="Forward(ReadOnlySpan{int})"/>, <see cref="Position"/>,
/// <see cref="Logits"/>) work on slot 0. All slots share one <see cref="Adapter"/>.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    // Dimension legend: B batch (prefill chunk), D width, Q = H*hd, K = KvH*hd, F ffn width, V vocab,
    // C context (cache length), L layers.
    private readonly TransformerModel _model;
    private readonly KernelThreadPool _pool;
    private readonly void* _block;
    private readonly float* _x;          // [B, D] residual stream
    private readonly float* _xb;         // [B, D] normed input of a sublayer
    private readonly float* _xb2;        // [B, D] sublayer output before the residual add
    private readonly float* _q;          // [B, Q]
    private readonly float* _k;          // [B, K]
    private readonly float* _v;          // [B, K]
    private readonly float* _att;        // [B, Q] attention output
    private readonly float* _hb;         // [B, F] gate, then silu(gate)*up
    private readonly float* _hb2;        // [B, F] up
    private readonly float* _logits;     // [S, V] logits of each slot's last position
    private readonly float* _logitsTemp; // [S, V] output projection of a batch's segments, in batch order
    private readonly float* _keyCache;   // [S, L, C, K]
    private readonly float* _valueCache; // [S, L, C, K]
    private readonly float* _canonCache; // [S, L, C, D] normed attention inputs by position (canon layer only; else empty)
    private readonly int[] _positions;   // [S] tokens in each slot's cache
    private readonly float* _attScratch; // Attention.ScratchFloats
    private readonly byte* _mmScratch;   // MatMul.ScratchBytes (activations quantized to the partner type)
    private LoraDelta? _adapter;         // applied beside the base weights; null: the base alone
    private float* _loraHidden;          // [B, R] h = A·x of the adapter's current module
    private int _loraHiddenRank;         // R the buffer above was sized for
    private bool _disposed;

    /// <summary>Allocates the run state and KV cache for <paramref name="model"/> (which must outlive the session).</summary>
    public InferenceSession(TransformerModel model, SessionOptions? options = null)
    {
        _model = model;
        var c = model.Config;
        Options = (options ?? new SessionOptions()).Resolve(c);
        int b = Options.BatchSize, ctx = Options.ContextSize, slots = Options.Slots;
        _positions = new int[slots];
        _pool = new KernelThreadPool(Options.Threads);

        long mmScratch = 0;
        foreach (var (t, k) in WeightShapesUsed(model))
            mmScratch = Math.Max(mmScratch, MatMul.ScratchBytes(t, k, b));
        long attScratch = Attention.ScratchFloats(Options.Threads, ctx);

        // Floats first (64-byte aligned slices), then the byte scratch; one allocation for the lifetime.
        long[] sizes =
        [
            (long)b * c.Dim, (long)b * c.Dim, (long)b * c.Dim, (long)b * c.QDim, (long)b * c.KvDim, (long)b * c.KvDim,
            (long)b * c.QDim, (long)b * c.HiddenDim, (long)b * c.HiddenDim, (long)slots * c.VocabSize,
            (long)slots * c.Layers * ctx * c.KvDim, (long)slots * c.Layers * ctx * c.KvDim, attScratch,
            c.CanonKernel > 0 ? (long)slots * c.Layers * ctx * c.Dim : 0,
            slots > 1 ? (long)slots * c.VocabSize : 0,
        ];
        long total = 0;
        foreach (var s in sizes) total += Align(s * sizeof(float));
        total += Align(mmScratch);
        _block = NativeMemory.AlignedAlloc((nuint)total, 64);
        GC.AddMemoryPressure(total);
        AllocatedBytes = total;

        byte* p = (byte*)_block;
        float* Next(long floats) { var r = (float*)p; p += Align(floats * sizeof(float)); return r; }
        _x = Next(sizes[0]); _xb = Next(sizes[1]); _xb2 = Next(sizes[2]); _q = Next(sizes[3]); _k = Next(sizes[4]);
        _v = Next(sizes[5]); _att = Next(sizes[6]); _hb = Next(sizes[7]); _hb2 = Next(sizes[8]); _logits = Next(sizes[9]);
        _keyCache = Next(sizes[10]); _valueCache = Next(sizes[11]); _attScratch = Next(sizes[12]); _canonCache = Next(sizes[13]);
        _logitsTemp = Next(sizes[14]);
        _mmScratch = p;
    }

    private static long Align(long bytes) => (bytes + 63) & ~63L;

    private static IEnumerable<(GgmlType Type, int K)> WeightShapesUsed(TransformerModel m)
    {
        var w = m.Weights;
        yield return (w.Output.Type, w.Output.Cols);
        foreach (var l in w.Layers)
        {
            yield return (l.Wq.Type, l.Wq.Cols);
            yield return (l.Wk.Type, l.Wk.Cols);
            yield return (l.Wv.Type, l.Wv.Cols);
            yield return (l.Wo.Type, l.Wo.Cols);
            yield return (l.Gate.Type, l.Gate.Cols);
            yield return (l.Up.Type, l.Up.Cols);
            yield return (l.Down.Type, l.Down.Cols);
        }
    }

    internal TransformerModel Model => _model;

    /// <summary>The options the session was made with, resolved against the model (context length, threads).</summary>
    public SessionOptions Options { get; }

    /// <summary>Native bytes held by this session (run state + KV cache); pages are touched only as used.</summary>
    public long AllocatedBytes { get; }

    /// <summary>Bytes allocated so far by this session's worker threads (for allocation tests).</summary>
    internal long WorkerAllocatedBytes => _pool.WorkerAllocatedBytes;

    /// <summary>Tokens currently in slot 0's KV cache; the next token goes at this position.</summary>
    public int Position => _positions[0];

    /// <summary>Tokens currently in <paramref name="slot"/>'s KV cache.</summary>
    public int PositionOf(int slot) => _positions[CheckSlot(slot)];

    /// <summary>Logits of slot 0's last position processed, [V]. Valid until the next forward call.</summary>
    public ReadOnlySpan<float> Logits => LogitsOf(0);

    /// <summary>Logits of <paramref name="slot"/>'s last position processed, [V]. Valid until that slot's next forward.</summary>
    public ReadOnlySpan<float> LogitsOf(int slot) => new(_logits + (long)CheckSlot(slot) * _model.Config.VocabSize, _model.Config.VocabSize);

    private int CheckSlot(int slot) =>
        (uint)slot < (uint)_positions.Length ? slot : throw new ArgumentOutOfRangeException(nameof(slot), slot, $"Slot must be between 0 and {_positions.Length - 1}.");

    /// <summary>
    /// The LoRA adapter added beside the base weights (y = W·x + s·B·A·x after each targeted projection), or null for
    /// the base alone. Changing it forgets the sequence: cached keys and values were computed with the old weights.
    /// The session does not own the adapter; keep it alive (undisposed) while it is set here.
    /// </summary>
    public LoraDelta? Adapter
    {
        get => _adapter;
        set
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (ReferenceEquals(value, _adapter)) return;
            if (value != null)
            {
                value.CheckFits(_model.Config);
                if (value.Rank > _loraHiddenRank)
                {
                    // Grown here, never during a forward pass, so decoding stays allocation-free.
                    long bytes = (long)Options.BatchSize * value.Rank * sizeof(float);
                    if (_loraHidden != null) { NativeMemory.AlignedFree(_loraHidden); GC.RemoveMemoryPressure((long)Options.BatchSize * _loraHiddenRank * sizeof(float)); }
                    _loraHidden = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
                    GC.AddMemoryPressure(bytes);
                    _loraHiddenRank = value.Rank;
                }
            }
            _adapter = value;
            Array.Clear(_positions);
        }
    }

    /// <summary>Forgets every slot's sequence; the caches are reused from position 0.</summary>
    public void Reset() => Array.Clear(_positions);

    /// <summary>Drops slot 0's cached positions at and after <paramref name="position"/> (to rewind a conversation).</summary>
    public void Truncate(int position) => Truncate(0, position);

    /// <summary>Drops <paramref name="slot"/>'s cached positions at and after <paramref name="position"/>.</summary>
    public void Truncate(int slot, int position)
    {
        int at = _positions[CheckSlot(slot)];
        if ((uint)position > (uint)at) throw new ArgumentOutOfRangeException(nameof(position), position, $"Position must be between 0 and {at}.");
        _positions[slot] = position;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> through the model at the current position, in batches, leaving the
    /// last position's logits in <see cref="Logits"/>. Allocates nothing.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) return;
        Check(tokens, 0, tokens.Length);
        int b = Options.BatchSize;
        Span<SlotTokens> one = stackalloc SlotTokens[1];
        for (int i = 0; i < tokens.Length; i += b)
        {
            int n = Math.Min(b, tokens.Length - i);
            one[0] = new SlotTokens(0, n);
            ForwardChunk(tokens.Slice(i, n), one, allLogits: null);
        }
    }

    /// <summary>
    /// One batched pass: <paramref name="tokens"/> holds the segments' tokens back to back, each segment continuing
    /// its slot's sequence at that slot's position, and each slot's last logits land in <see cref="LogitsOf"/>.
    /// Every weight is read once for the whole batch, which is what makes serving several sequences at once cheaper
    /// than serving them in turn. A slot appears at most once; the segments hold at most
    /// <see cref="SessionOptions.BatchSize"/> tokens together. Allocates nothing.
    /// </summary>
    public void Forward(ReadOnlySpan<SlotTokens> segments, ReadOnlySpan<int> tokens)
    {
        if (segments.IsEmpty) return;
        if (segments.Length > _positions.Length) throw new ArgumentException($"{segments.Length} segments but the session has {_positions.Length} slots.", nameof(segments));
        int total = 0;
        for (int i = 0; i < segments.Length; i++)
        {
            var seg = segments[i];
            CheckSlot(seg.Slot);
            if (seg.Count < 1) throw new ArgumentException($"Segment {i} (slot {seg.Slot}) holds no tokens.", nameof(segments));
            for (int j = 0; j < i; j++)
                if (segments[j].Slot == seg.Slot) throw new ArgumentException($"Slot {seg.Slot} appears twice in one batch.", nameof(segments));
            if (total + seg.Count > tokens.Length) throw new ArgumentException($"The segments hold more than the {tokens.Length} tokens given.", nameof(tokens));
            Check(tokens.Slice(total, seg.Count), seg.Slot, seg.Count);
            total += seg.Count;
        }
        if (total != tokens.Length) throw new ArgumentException($"The segments hold {total} tokens but {tokens.Length} were given.", nameof(tokens));
        if (total > Options.BatchSize) throw new ArgumentException($"The batch holds {total} tokens; the session's batch size is {Options.BatchSize}.", nameof(tokens));
        ForwardChunk(tokens, segments, allLogits: null);
    }

    /// <summary>Like <see cref="Forward(ReadOnlySpan{int})"/> but writes logits of every position to <paramref name="logits"/> [T, V].</summary>
    public void ForwardAll(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        int v = _model.Config.VocabSize;
        if (logits.Length < (long)tokens.Length * v) throw new ArgumentException($"Need room for {tokens.Length} x {v} logits.", nameof(logits));
        Check(tokens, 0, tokens.Length);
        int b = Options.BatchSize;
        Span<SlotTokens> one = stackalloc SlotTokens[1];
        fixed (float* dst = logits)
        {
            for (int i = 0; i < tokens.Length; i += b)
            {
                int n = Math.Min(b, tokens.Length - i);
                one[0] = new SlotTokens(0, n);
                ForwardChunk(tokens.Slice(i, n), one, dst + (long)i * v);
            }
        }
    }

    private void Check(ReadOnlySpan<int> tokens, int slot, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int v = _model.Config.VocabSize;
        foreach (var t in tokens)
            if ((uint)t >= (uint)v) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token id {t} is outside the vocabulary [0, {v}).");
        int at = _positions[slot];
        if (at + count > Options.ContextSize)
            throw new ContextOverflowException(
                $"The sequence needs {at + count} tokens but the context holds {Options.ContextSize}. Shorten the prompt, lower the number of tokens to generate, or raise the context size (the model was trained for {_model.Config.ContextLength}).");
    }

    // tokens [n] holds the segments back to back; segment i covers rows [start_i, start_i + Count_i) of every [B, ·]
    // buffer and continues slot_i's sequence at _positions[slot_i]. allLogits [n, V]: only with one segment.
    private void ForwardChunk(ReadOnlySpan<int> tokens, ReadOnlySpan<SlotTokens> segments, float* allLogits)
    {
        var c = _model.Config;
        var w = _model.Weights;
        int n = tokens.Length, d = c.Dim, qd = c.QDim, kd = c.KvDim, f = c.HiddenDim;
        long cacheLayer = (long)Options.ContextSize * kd;
        var invFreq = _model.InverseFrequencies;
        var lora = _adapter;

        for (int t = 0; t < n; t++)
            Quant.DequantizeRow(w.TokenEmbedding.Type, w.TokenEmbedding.Row(tokens[t]), Row(_x, t, d));

        for (int l = 0; l < c.Layers; l++)
        {
            var L = w.Layers[l];

            // Attention sublayer: x += Wo · attn(rope(Wq·a), cache(rope(Wk·a), Wv·a)), a = norm(x) or canon(norm(x))
            for (int t = 0; t < n; t++)
                Norms.RmsNorm(Row(_xb, t, d), Row(_x, t, d), L.AttnNorm.AsFloats(), c.NormEps);
            float* attIn = _xb;
            if (c.CanonKernel > 0)
            {
                // The cache keeps every position's normed input, so a rewound or resumed sequence has its history.
                int start = 0;
                foreach (var seg in segments)
                {
                    int pos = _positions[seg.Slot];
                    float* hist = _canonCache + ((long)seg.Slot * c.Layers + l) * Options.ContextSize * d;
                    new Span<float>(_xb + (long)start * d, seg.Count * d).CopyTo(new Span<float>(hist + (long)pos * d, seg.Count * d));
                    Canon.Forward(new Span<float>(_xb2 + (long)start * d, seg.Count * d), new ReadOnlySpan<float>(hist, (pos + seg.Count) * d), pos, seg.Count, L.Canon.AsFloats(), d);
                    start += seg.Count;
                }
                attIn = _xb2; // free until the output projection below
            }
            MatMul.Forward(_pool, _q, attIn, L.Wq, n, _mmScratch);
            MatMul.Forward(_pool, _k, attIn, L.Wk, n, _mmScratch);
            MatMul.Forward(_pool, _v, attIn, L.Wv, n, _mmScratch);
            if (lora != null)
            {
                lora.Add(_pool, _q, attIn, l, LoraTargets.Q, n, _loraHidden);
                lora.Add(_pool, _k, attIn, l, LoraTargets.K, n, _loraHidden);
                lora.Add(_pool, _v, attIn, l, LoraTargets.V, n, _loraHidden);
            }
            int first = 0;
            foreach (var seg in segments)
            {
                int pos = _positions[seg.Slot];
                float* kCache = _keyCache + ((long)seg.Slot * c.Layers + l) * cacheLayer;
                float* vCache = _valueCache + ((long)seg.Slot * c.Layers + l) * cacheLayer;
                for (int i = 0; i < seg.Count; i++)
                {
                    int t = first + i;
                    var q = Row(_q, t, qd);
                    var k = Row(_k, t, kd);
                    var v = Row(_v, t, kd);
                    if (!L.Bq.IsEmpty)
                    {
                        TensorPrimitives.Add(q, L.Bq.AsFloats(), q);
                        TensorPrimitives.Add(k, L.Bk.AsFloats(), k);
                        TensorPrimitives.Add(v, L.Bv.AsFloats(), v);
                    }
                    Rope.Apply(q, c.Heads, c.HeadDim, pos + i, invFreq, c.Rope);
                    Rope.Apply(k, c.KvHeads, c.HeadDim, pos + i, invFreq, c.Rope);
                    k.CopyTo(Row(kCache, pos + i, kd));
                    v.CopyTo(Row(vCache, pos + i, kd));
                }
                // Each segment attends to its own slot's cache only.
                Attention.ForwardBatch(_pool, _att + (long)first * qd, _q + (long)first * qd, kCache, vCache, seg.Count, pos, c.Heads, c.KvHeads, c.HeadDim, _attScratch);
                first += seg.Count;
            }
            MatMul.Forward(_pool, _xb2, _att, L.Wo, n, _mmScratch);
            lora?.Add(_pool, _xb2, _att, l, LoraTargets.O, n, _loraHidden);
            TensorPrimitives.Add(Rows(_x, n, d), Rows(_xb2, n, d), Rows(_x, n, d));

            // Feed-forward sublayer: x += Wdown · (silu(Wgate·norm(x)) * Wup·norm(x))
            for (int t = 0; t < n; t++)
                Norms.RmsNorm(Row(_xb, t, d), Row(_x, t, d), L.FfnNorm.AsFloats(), c.NormEps);
            MatMul.Forward(_pool, _hb, _xb, L.Gate, n, _mmScratch);
            MatMul.Forward(_pool, _hb2, _xb, L.Up, n, _mmScratch);
            if (lora != null)
            {
                lora.Add(_pool, _hb, _xb, l, LoraTargets.Gate, n, _loraHidden);
                lora.Add(_pool, _hb2, _xb, l, LoraTargets.Up, n, _loraHidden);
            }
            Activations.SwiGlu(Rows(_hb, n, f), Rows(_hb, n, f), Rows(_hb2, n, f));
            MatMul.Forward(_pool, _xb2, _hb, L.Down, n, _mmScratch);
            lora?.Add(_pool, _xb2, _hb, l, LoraTargets.Down, n, _loraHidden);
            TensorPrimitives.Add(Rows(_x, n, d), Rows(_xb2, n, d), Rows(_x, n, d));
        }

        foreach (var seg in segments) _positions[seg.Slot] += seg.Count;
        int vocab = c.VocabSize;
        if (allLogits != null)
        {
            for (int t = 0; t < n; t++)
                Norms.RmsNorm(Row(_xb, t, d), Row(_x, t, d), w.OutputNorm.AsFloats(), c.NormEps);
            MatMul.Forward(_pool, allLogits, _xb, w.Output, n, _mmScratch);
            Row(allLogits, n - 1, vocab).CopyTo(Row(_logits, segments[0].Slot, vocab));
            return;
        }
        // The output projection of each segment's last row only, all segments in one product.
        int end = 0;
        for (int i = 0; i < segments.Length; i++)
        {
            end += segments[i].Count;
            Norms.RmsNorm(Row(_xb, i, d), Row(_x, end - 1, d), w.OutputNorm.AsFloats(), c.NormEps);
        }
        if (segments.Length == 1)
        {
            MatMul.Forward(_pool, _logits + (long)segments[0].Slot * vocab, _xb, w.Output, 1, _mmScratch);
            return;
        }
        MatMul.Forward(_pool, _logitsTemp, _xb, w.Output, segments.Length, _mmScratch);
        for (int i = 0; i < segments.Length; i++)
            Row(_logitsTemp, i, vocab).CopyTo(Row(_logits, segments[i].Slot, vocab));
    }

    private static Span<float> Row(float* basePtr, long row, int width) => new(basePtr + row * width, width);

    private static Span<float> Rows(float* basePtr, int rows, int width) => new(basePtr, rows * width);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool.Dispose();
        NativeMemory.AlignedFree(_block);
        if (_loraHidden != null)
        {
            NativeMemory.AlignedFree(_loraHidden);
            GC.RemoveMemoryPressure((long)Options.BatchSize * _loraHiddenRank * sizeof(float));
        }
        GC.RemoveMemoryPressure(AllocatedBytes);
    }
}
