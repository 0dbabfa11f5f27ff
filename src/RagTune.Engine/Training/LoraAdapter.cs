using System.Runtime.InteropServices;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Engine.Kernels;

namespace RagTune.Engine.Training;

/// <summary>
/// One trainable tensor: values, gradient of the same length, shape and its name: PEFT's for LoRA factors
/// (<c>base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight</c>), GGUF's for full fine-tuning
/// (<c>blk.{i}.attn_q.weight</c>). <paramref name="pinned"/> puts both arrays on the pinned heap, so the engine can
/// point <see cref="Tensors.TensorView"/>s at them for as long as the parameter lives (full fine-tuning's weights).
/// </summary>
public sealed class LoraParameter(string name, int[] shape, bool pinned = false)
{
    /// <summary>State-dict name.</summary>
    public string Name { get; } = name;

    /// <summary>Shape, row-major: [rank, in] for A, [out, rank] for B, [out, in] for a weight, [1, n] for a vector.</summary>
    public int[] Shape { get; } = shape;

    /// <summary>Values, row-major.</summary>
    public float[] Values { get; } = GC.AllocateArray<float>(checked(shape[0] * shape[1]), pinned);

    /// <summary>Accumulated gradient, same layout as <see cref="Values"/>; cleared by <see cref="LoraAdapter.ZeroGrad"/>.</summary>
    public float[] Grad { get; } = GC.AllocateArray<float>(checked(shape[0] * shape[1]), pinned);
}

/// <summary>The adapter of one targeted linear layer: A [r, in], B [out, r].</summary>
public sealed class LoraModule(int layer, LoraTargets target, int inFeatures, int outFeatures, LoraParameter a, LoraParameter b)
{
    /// <summary>Block index.</summary>
    public int Layer { get; } = layer;

    /// <summary>Which linear layer.</summary>
    public LoraTargets Target { get; } = target;

    /// <summary>Input features (columns of the frozen weight).</summary>
    public int In { get; } = inFeatures;

    /// <summary>Output features (rows of the frozen weight).</summary>
    public int Out { get; } = outFeatures;

    /// <summary>Down projection A [r, in].</summary>
    public LoraParameter A { get; } = a;

    /// <summary>Up projection B [out, r].</summary>
    public LoraParameter B { get; } = b;
}

/// <summary>
/// LoRA adapter weights for every targeted linear layer of a model, kept apart from the frozen base (which is never
/// modified). B starts at zero and A Kaiming-uniform as PEFT initialises them (<c>kaiming_uniform_(a=√5)</c>, i.e.
/// U(−1/√in, 1/√in)), so a fresh adapter leaves the model's outputs unchanged.
/// </summary>
public sealed unsafe class LoraAdapter
{
    private const string Magic = "RTLORA";
    private const int FormatVersion = 1;

    private readonly LoraModule?[] _modules; // [L, 7], null where not targeted

    /// <summary>Builds an adapter shaped for <paramref name="model"/>, A drawn from <paramref name="seed"/>, B zero.</summary>
    public LoraAdapter(ModelConfig model, LoraConfig config, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Layers = model.Layers;
        _modules = new LoraModule?[model.Layers * 7];
        var rng = new TrainingRandom(seed);
        var parameters = new List<LoraParameter>();
        for (int l = 0; l < model.Layers; l++)
            foreach (var target in LoraTargetNames.Order)
            {
                if ((config.Targets & target) == 0) continue;
                var (outF, inF) = ExpectedShape(model, target);
                string prefix = $"base_model.model.model.layers.{l}.{LoraTargetNames.PeftModule(target)}";
                var a = new LoraParameter(prefix + ".lora_A.weight", [config.Rank, inF]);
                var b = new LoraParameter(prefix + ".lora_B.weight", [outF, config.Rank]);
                float bound = 1f / MathF.Sqrt(inF);
                for (int i = 0; i < a.Values.Length; i++) a.Values[i] = rng.NextSymmetric(bound);
                _modules[l * 7 + LoraTargetNames.Index(target)] = new LoraModule(l, target, inF, outF, a, b);
                parameters.Add(a);
                parameters.Add(b);
            }
        Parameters = parameters;
    }

    /// <summary>Hyperparameters.</summary>
    public LoraConfig Config { get; }

    /// <summary>Number of blocks the adapter covers.</summary>
    public int Layers { get; }

    /// <summary>alpha / rank.</summary>
    public float Scaling => Config.Scaling;

    /// <summary>Every trainable tensor, layer by layer, A before B, targets in q, k, v, o, gate, up, down order.</summary>
    public IReadOnlyList<LoraParameter> Parameters { get; }

    /// <summary>Total trainable values.</summary>
    public long ParameterCount => Parameters.Sum(p => (long)p.Values.Length);

    /// <summary>The module of (layer, target), or null when that layer is not targeted.</summary>
    public LoraModule? Module(int layer, LoraTargets target) => _modules[layer * 7 + LoraTargetNames.Index(target)];

    /// <summary>[out, in] of the frozen weight behind <paramref name="target"/>.</summary>
    internal static (int Out, int In) ExpectedShape(ModelConfig c, LoraTargets target) => target switch
    {
        LoraTargets.Q => (c.QDim, c.Dim),
        LoraTargets.K or LoraTargets.V => (c.KvDim, c.Dim),
        LoraTargets.O => (c.Dim, c.QDim),
        LoraTargets.Gate or LoraTargets.Up => (c.HiddenDim, c.Dim),
        LoraTargets.Down => (c.Dim, c.HiddenDim),
        _ => throw new ArgumentException($"'{target}' is not a single LoRA target.", nameof(target)),
    };

    /// <summary>Checks every A and B against the shapes <paramref name="model"/> implies; the message names the first mismatch.</summary>
    public void Validate(ModelConfig model)
    {
        if (Layers != model.Layers)
            throw new InvalidDataException($"Adapter for another base: it has {Layers} layers, the model has {model.Layers}. Train or load an adapter made for this model.");
        for (int l = 0; l < Layers; l++)
            foreach (var target in LoraTargetNames.Order)
            {
                if (Module(l, target) is not { } m) continue;
                var (outF, inF) = ExpectedShape(model, target);
                string module = LoraTargetNames.PeftModule(target)[(LoraTargetNames.PeftModule(target).IndexOf('.') + 1)..];
                if (m.A.Shape[0] != Config.Rank || m.A.Shape[1] != inF)
                    throw new InvalidDataException($"Adapter for another base: layer {l} {module} expects A [{Config.Rank}, {inF}], got [{m.A.Shape[0]}, {m.A.Shape[1]}].");
                if (m.B.Shape[0] != outF || m.B.Shape[1] != Config.Rank)
                    throw new InvalidDataException($"Adapter for another base: layer {l} {module} expects B [{outF}, {Config.Rank}], got [{m.B.Shape[0]}, {m.B.Shape[1]}].");
            }
    }

    /// <summary>Clears every gradient.</summary>
    public void ZeroGrad()
    {
        for (int i = 0; i < Parameters.Count; i++) Array.Clear(Parameters[i].Grad);
    }

    /// <summary>weight [out, in] += scaling · B·A for (layer, target); a no-op when the layer is not targeted.</summary>
    public void MergeInto(Span<float> weight /*[out, in]*/, int layer, LoraTargets target)
    {
        if (Module(layer, target) is not { } m) return;
        if (weight.Length != m.Out * m.In)
            throw new ArgumentException($"Layer {layer} {target}: weight holds {weight.Length} floats, the adapter expects [{m.Out}, {m.In}].", nameof(weight));
        int r = Config.Rank;
        for (int o = 0; o < m.Out; o++)
        {
            var row = weight.Slice(o * m.In, m.In);
            for (int j = 0; j < r; j++)
            {
                float bj = Scaling * m.B.Values[o * r + j];
                if (bj != 0f) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(m.A.Values.AsSpan(j * m.In, m.In), bj, row, row);
            }
        }
    }

    /// <summary>
    /// A new F32 model whose targeted weights are the base's (dequantized) plus scaling · B·A: the adapter merged, for
    /// inference through <see cref="InferenceSession"/> (which knows nothing of LoRA). Every other tensor is an F32 copy.
    /// The base is not modified; the result owns its memory and is disposed on its own.
    /// </summary>
    public TransformerModel Merge(TransformerModel baseModel)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        Validate(baseModel.Config);
        var src = baseModel.Weights;
        var store = new NativeTensorStore();
        try
        {
            TensorView Copy(in TensorView t, int layer = -1, LoraTargets target = LoraTargets.None)
            {
                if (t.IsEmpty) return default;
                var view = store.AllocateF32(t.Rows, t.Cols);
                var data = new Span<float>(view.Data, checked((int)(t.Rows * t.Cols)));
                for (long r = 0; r < t.Rows; r++) Quant.DequantizeRow(t.Type, t.Row(r), data.Slice((int)(r * t.Cols), t.Cols));
                if (target != LoraTargets.None) MergeInto(data, layer, target);
                return view;
            }
            var w = new ModelWeights { TokenEmbedding = Copy(src.TokenEmbedding), OutputNorm = Copy(src.OutputNorm), TiedOutput = src.TiedOutput };
            w.Output = src.TiedOutput ? w.TokenEmbedding : Copy(src.Output);
            w.Layers = new LayerWeights[src.Layers.Length];
            for (int l = 0; l < src.Layers.Length; l++)
            {
                var s = src.Layers[l];
                w.Layers[l] = new LayerWeights
                {
                    AttnNorm = Copy(s.AttnNorm), FfnNorm = Copy(s.FfnNorm), Bq = Copy(s.Bq), Bk = Copy(s.Bk), Bv = Copy(s.Bv), Canon = Copy(s.Canon),
                    Wq = Copy(s.Wq, l, LoraTargets.Q), Wk = Copy(s.Wk, l, LoraTargets.K), Wv = Copy(s.Wv, l, LoraTargets.V),
                    Wo = Copy(s.Wo, l, LoraTargets.O), Gate = Copy(s.Gate, l, LoraTargets.Gate), Up = Copy(s.Up, l, LoraTargets.Up),
                    Down = Copy(s.Down, l, LoraTargets.Down),
                };
            }
            return new TransformerModel(baseModel.Path + " (+LoRA merged)", baseModel.Config, w, store, gguf: null);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    // ---------------------------------------------------------------- checkpoint

    /// <summary>
    /// Writes a resume checkpoint: "RTLORA" magic, format version, config, then every parameter's name, shape and
    /// values (little-endian). Gradients are not saved. PEFT safetensors export lives in RagTune.FineTuning.
    /// </summary>
    public void Save(string path)
    {
        using var w = new BinaryWriter(File.Create(path));
        w.Write(System.Text.Encoding.ASCII.GetBytes(Magic));
        w.Write(FormatVersion);
        w.Write(Layers);
        w.Write(Config.Rank);
        w.Write(Config.Alpha);
        w.Write(Config.Dropout);
        w.Write((int)Config.Targets);
        w.Write(Parameters.Count);
        foreach (var p in Parameters)
        {
            w.Write(p.Name);
            w.Write(p.Shape[0]);
            w.Write(p.Shape[1]);
            w.Write(MemoryMarshal.AsBytes(p.Values.AsSpan()));
        }
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/> and checks it against <paramref name="model"/>.</summary>
    public static LoraAdapter Load(string path, ModelConfig model)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        var magic = r.ReadBytes(Magic.Length);
        if (System.Text.Encoding.ASCII.GetString(magic) != Magic)
            throw new InvalidDataException($"{path}: not a RagTune LoRA checkpoint (magic '{Magic}' missing). PEFT safetensors adapters are read by RagTune.FineTuning.");
        int version = r.ReadInt32();
        if (version != FormatVersion)
            throw new InvalidDataException($"{path}: LoRA checkpoint format version {version}; this build reads version {FormatVersion}.");
        int layers = r.ReadInt32();
        var config = new LoraConfig(r.ReadInt32(), r.ReadSingle(), r.ReadSingle(), (LoraTargets)r.ReadInt32());
        if (layers != model.Layers)
            throw new InvalidDataException($"{path}: adapter for another base: it has {layers} layers, the model has {model.Layers}.");
        var adapter = new LoraAdapter(model, config);
        int count = r.ReadInt32();
        if (count != adapter.Parameters.Count)
            throw new InvalidDataException($"{path}: {count} tensors, but rank {config.Rank} with targets {config.Targets} on this model needs {adapter.Parameters.Count}.");
        foreach (var p in adapter.Parameters)
        {
            string name = r.ReadString();
            int s0 = r.ReadInt32(), s1 = r.ReadInt32();
            if (name != p.Name || s0 != p.Shape[0] || s1 != p.Shape[1])
                throw new InvalidDataException($"{path}: adapter for another base: expected {p.Name} [{p.Shape[0]}, {p.Shape[1]}], got {name} [{s0}, {s1}].");
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(p.Values.AsSpan()));
        }
        return adapter;
    }
}

/// <summary>Native F32 tensors owned by a merged model; freed when the model is disposed.</summary>
internal sealed unsafe class NativeTensorStore : IDisposable
{
    private readonly List<nint> _blocks = [];

    public TensorView AllocateF32(long rows, int cols)
    {
        long n = rows * cols;
        var p = (byte*)NativeMemory.AlignedAlloc((nuint)(n * sizeof(float)), 64);
        _blocks.Add((nint)p);
        return new TensorView(p, GgmlType.F32, rows, cols);
    }

    public void Dispose()
    {
        foreach (var p in _blocks) NativeMemory.AlignedFree((void*)p);
        _blocks.Clear();
    }
}
