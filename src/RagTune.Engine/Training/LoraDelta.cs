using System.Runtime.InteropServices;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Training;

/// <summary>
/// A LoRA adapter laid out for inference beside an unmodified base (any weight type, quantized included):
/// <see cref="InferenceSession"/> adds s·B·(A·x) after each targeted projection instead of merging, so one base can
/// serve several adapters. A snapshot of the adapter's values at construction; immutable and shareable across
/// sessions and threads. Owns native memory: dispose it after every session using it has let it go.
/// </summary>
public sealed unsafe class LoraDelta : IDisposable
{
    // Per (layer, target): A [R, in] as an F32 view (fed to MatMul.Forward) and (s·B)ᵀ [R, out]; one allocation.
    private readonly TensorView[] _a;   // [L·7], empty where not targeted
    private readonly nint[] _bt;        // [L·7], float* or 0
    private readonly void* _block;
    private bool _disposed;

    /// <summary>Copies <paramref name="adapter"/> (checked against <paramref name="model"/>) into inference layout.</summary>
    public LoraDelta(LoraAdapter adapter, ModelConfig model)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        ArgumentNullException.ThrowIfNull(model);
        adapter.Validate(model);
        Layers = model.Layers;
        Dim = model.Dim;
        HiddenDim = model.HiddenDim;
        QDim = model.QDim;
        KvDim = model.KvDim;
        Rank = adapter.Config.Rank;
        Targets = adapter.Config.Targets;
        _a = new TensorView[Layers * 7];
        _bt = new nint[Layers * 7];

        long total = 0;
        foreach (var p in adapter.Parameters) total += Align((long)p.Values.Length * sizeof(float));
        _block = NativeMemory.AlignedAlloc((nuint)Math.Max(total, 64), 64);
        AllocatedBytes = total;
        byte* next = (byte*)_block;
        float s = adapter.Scaling;
        for (int l = 0; l < Layers; l++)
            foreach (var target in LoraTargetNames.Order)
            {
                if (adapter.Module(l, target) is not { } m) continue;
                int i = l * 7 + LoraTargetNames.Index(target), r = Rank;
                float* a = (float*)next;
                next += Align((long)r * m.In * sizeof(float));
                m.A.Values.CopyTo(new Span<float>(a, r * m.In));
                float* bt = (float*)next;
                next += Align((long)m.Out * r * sizeof(float));
                for (int o = 0; o < m.Out; o++)
                    for (int j = 0; j < r; j++)
                        bt[(long)j * m.Out + o] = s * m.B.Values[o * r + j];
                _a[i] = new TensorView((byte*)a, GgmlType.F32, r, m.In);
                _bt[i] = (nint)bt;
            }
    }

    private static long Align(long bytes) => (bytes + 63) & ~63L;

    /// <summary>Blocks covered.</summary>
    public int Layers { get; }

    /// <summary>Model width the adapter was built for.</summary>
    public int Dim { get; }

    /// <summary>Feed-forward width the adapter was built for.</summary>
    public int HiddenDim { get; }

    /// <summary>Query width (heads · head dim) the adapter was built for.</summary>
    public int QDim { get; }

    /// <summary>Key/value width the adapter was built for.</summary>
    public int KvDim { get; }

    /// <summary>Rank r of every module.</summary>
    public int Rank { get; }

    /// <summary>Which projections carry an update.</summary>
    public LoraTargets Targets { get; }

    /// <summary>Native bytes held.</summary>
    public long AllocatedBytes { get; }

    /// <summary>Throws when the adapter was built for a model of another shape.</summary>
    public void CheckFits(ModelConfig model)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (model.Layers != Layers || model.Dim != Dim || model.HiddenDim != HiddenDim || model.QDim != QDim || model.KvDim != KvDim)
            throw new InvalidDataException(
                $"Adapter for another base: it was built for {Layers} layers, width {Dim}, ffn {HiddenDim}, q {QDim}, kv {KvDim}; the model has {model.Layers}, {model.Dim}, {model.HiddenDim}, {model.QDim}, {model.KvDim}. Load an adapter trained on this model.");
    }

    /// <summary>
    /// y [T, out] += s·B·(A·x) for (layer, target); a no-op where the layer is not targeted. <paramref name="hidden"/>
    /// holds T·<see cref="Rank"/> floats.
    /// </summary>
    internal void Add(Threading.KernelThreadPool pool, float* y, float* x, int layer, LoraTargets target, int t, float* hidden)
    {
        // The flags are 1, 2, 4, … in LoraTargetNames.Order, so the bit index is the order index (no lookup per call).
        int i = layer * 7 + System.Numerics.BitOperations.TrailingZeroCount((uint)target);
        if (_bt[i] == 0) return;
        var a = _a[i];
        int outFeatures = target switch
        {
            LoraTargets.Q => QDim,
            LoraTargets.K or LoraTargets.V => KvDim,
            LoraTargets.Gate or LoraTargets.Up => HiddenDim,
            _ => Dim,
        };
        Kernels.MatMul.AddLowRank(pool, y, x, a, (float*)_bt[i], outFeatures, t, hidden);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        NativeMemory.AlignedFree(_block);
    }
}
