using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Training;

/// <summary>
/// Every weight of an F32 model as a trainable parameter (full fine-tuning): values copied from the base into pinned
/// arrays, a gradient of the same layout beside each, and <see cref="Model"/>, a <see cref="TransformerModel"/> whose
/// views point at the values, so the forward pass always runs on the current weights. The base is not modified.
/// Names are the GGUF ones (<c>token_embd.weight</c>, <c>blk.{i}.attn_q.weight</c>, …); a tied output shares the
/// embedding's parameter, so both uses add to one gradient.
/// </summary>
public sealed unsafe class FullModelParameters
{
    private readonly List<LoraParameter> _params = [];
    private readonly Dictionary<string, LoraParameter> _byName = new(StringComparer.Ordinal);

    /// <summary>Copies <paramref name="baseModel"/>'s weights; throws <see cref="NotSupportedException"/> unless every tensor is F32.</summary>
    public FullModelParameters(TransformerModel baseModel)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        var c = baseModel.Config;
        var src = baseModel.Weights;
        Config = c;
        TensorView Copy(string name, in TensorView t)
        {
            if (t.IsEmpty) return default;
            if (t.Type != GgmlType.F32)
                throw new NotSupportedException(
                    $"{baseModel.Path}: full fine-tuning trains F32 weights, but tensor '{name}' is {GgmlTypes.Traits(t.Type).Name}. Convert the base to F32 first (ragtune model convert <hf-folder|file.gguf> --type f32 --out base-f32.gguf), or use --method lora, which trains over quantized bases.");
            var p = new LoraParameter(name, [checked((int)t.Rows), t.Cols], pinned: true);
            new ReadOnlySpan<float>(t.Data, p.Values.Length).CopyTo(p.Values);
            _params.Add(p);
            _byName.Add(name, p);
            return new TensorView((byte*)Pointer(p.Values), GgmlType.F32, t.Rows, t.Cols);
        }

        var w = new ModelWeights { TokenEmbedding = Copy("token_embd.weight", src.TokenEmbedding), TiedOutput = src.TiedOutput };
        w.Layers = new LayerWeights[src.Layers.Length];
        for (int l = 0; l < src.Layers.Length; l++)
        {
            var s = src.Layers[l];
            string b = $"blk.{l}.";
            w.Layers[l] = new LayerWeights
            {
                AttnNorm = Copy(b + "attn_norm.weight", s.AttnNorm),
                Wq = Copy(b + "attn_q.weight", s.Wq), Bq = Copy(b + "attn_q.bias", s.Bq),
                Wk = Copy(b + "attn_k.weight", s.Wk), Bk = Copy(b + "attn_k.bias", s.Bk),
                Wv = Copy(b + "attn_v.weight", s.Wv), Bv = Copy(b + "attn_v.bias", s.Bv),
                Wo = Copy(b + "attn_output.weight", s.Wo),
                FfnNorm = Copy(b + "ffn_norm.weight", s.FfnNorm),
                Gate = Copy(b + "ffn_gate.weight", s.Gate), Up = Copy(b + "ffn_up.weight", s.Up), Down = Copy(b + "ffn_down.weight", s.Down),
                Canon = Copy(GgufModelLoader.CanonTensor(l), s.Canon),
            };
        }
        w.OutputNorm = Copy("output_norm.weight", src.OutputNorm);
        w.Output = src.TiedOutput ? w.TokenEmbedding : Copy("output.weight", src.Output);
        // The arrays are on the pinned heap and referenced by _params, so the views stay valid while this object lives.
        Model = new TransformerModel(baseModel.Path, c, w, new Unowned(), baseModel.Gguf);
        baseModel.InverseFrequencies.CopyTo(Model.InverseFrequencies, 0); // rope_freqs.weight divisors included
    }

    /// <summary>Hyperparameters of the model.</summary>
    public ModelConfig Config { get; }

    /// <summary>The model over the trainable values (do not dispose it apart from this object's lifetime; it owns nothing).</summary>
    public TransformerModel Model { get; }

    /// <summary>Every parameter, embedding first, then block by block, then the final norm and (untied) output.</summary>
    public IReadOnlyList<LoraParameter> Parameters => _params;

    /// <summary>Total trainable values.</summary>
    public long ParameterCount => _params.Sum(p => (long)p.Values.Length);

    /// <summary>The parameter named <paramref name="name"/> (GGUF naming), or null.</summary>
    public LoraParameter? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Clears every gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _params) Array.Clear(p.Grad);
    }

    // ---------------------------------------------------------------- gradient pointers for TrainingSession
    // Resolved once (the arrays are pinned), so a training step looks nothing up and allocates nothing.

    private nint[]? _gradIndex; // [L·7 weights, L·7 biases (0 = none), L attn norms, L ffn norms, embedding, output, output norm, L canon (0 = none)]

    private nint[] GradIndex => _gradIndex ??= BuildGradIndex();

    private nint[] BuildGradIndex()
    {
        int layers = Config.Layers;
        var index = new nint[17 * layers + 3];
        for (int l = 0; l < layers; l++)
        {
            foreach (var target in LoraTargetNames.Order)
            {
                int t = LoraTargetNames.Index(target);
                index[l * 7 + t] = (nint)Pointer(_byName[$"blk.{l}.{GgufName(target)}.weight"].Grad);
                if (_byName.TryGetValue($"blk.{l}.{GgufName(target)}.bias", out var bias)) index[7 * layers + l * 7 + t] = (nint)Pointer(bias.Grad);
            }
            index[14 * layers + l] = (nint)Pointer(_byName[$"blk.{l}.attn_norm.weight"].Grad);
            index[15 * layers + l] = (nint)Pointer(_byName[$"blk.{l}.ffn_norm.weight"].Grad);
            if (_byName.TryGetValue(GgufModelLoader.CanonTensor(l), out var canon)) index[16 * layers + 3 + l] = (nint)Pointer(canon.Grad);
        }
        index[16 * layers] = (nint)Pointer(_byName["token_embd.weight"].Grad);
        index[16 * layers + 1] = (nint)Pointer(_byName[Model.Weights.TiedOutput ? "token_embd.weight" : "output.weight"].Grad);
        index[16 * layers + 2] = (nint)Pointer(_byName["output_norm.weight"].Grad);
        return index;
    }

    internal float* EmbeddingGrad => (float*)GradIndex[16 * Config.Layers];

    internal float* OutputGrad => (float*)GradIndex[16 * Config.Layers + 1];

    internal float* OutputNormGrad => (float*)GradIndex[16 * Config.Layers + 2];

    /// <summary>Gradient of the canon layer of <paramref name="layer"/> [K, D], or null when the model has none.</summary>
    internal float* CanonGrad(int layer) => (float*)GradIndex[16 * Config.Layers + 3 + layer];

    internal float* AttnNormGrad(int layer) => (float*)GradIndex[14 * Config.Layers + layer];

    internal float* FfnNormGrad(int layer) => (float*)GradIndex[15 * Config.Layers + layer];

    /// <summary>Gradient of the weight behind (layer, target).</summary>
    internal float* WeightGrad(int layer, LoraTargets target) => (float*)GradIndex[layer * 7 + System.Numerics.BitOperations.TrailingZeroCount((uint)target)];

    /// <summary>Gradient of the bias of (layer, target), or null when it has none (llama; o/gate/up/down).</summary>
    internal float* BiasGrad(int layer, LoraTargets target) => (float*)GradIndex[7 * Config.Layers + layer * 7 + System.Numerics.BitOperations.TrailingZeroCount((uint)target)];

    private static string GgufName(LoraTargets target) => target switch
    {
        LoraTargets.Q => "attn_q",
        LoraTargets.K => "attn_k",
        LoraTargets.V => "attn_v",
        LoraTargets.O => "attn_output",
        LoraTargets.Gate => "ffn_gate",
        LoraTargets.Up => "ffn_up",
        LoraTargets.Down => "ffn_down",
        _ => throw new ArgumentException($"'{target}' is not a single projection.", nameof(target)),
    };

    private static float* Pointer(float[] pinned) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));

    // ---------------------------------------------------------------- files

    /// <summary>
    /// Writes the trained model as a GGUF: the base file's metadata (tokenizer and chat template included) and tensor
    /// order, trained tensors as F32, any other tensor (<c>rope_freqs.weight</c>) copied. Needs a GGUF base.
    /// </summary>
    public void SaveGguf(string path)
    {
        var source = Model.Gguf ?? throw new NotSupportedException(
            $"{Model.Path}: full fine-tuning writes a GGUF with the base's metadata, so the base must be a GGUF file. Convert it first (ragtune model convert <hf-folder> --type f32 --out base.gguf).");
        var w = new GgufWriter();
        foreach (var key in source.MetadataKeys) w.Set(key, source.Metadata[key]);
        w.Set("general.file_type", GgufValue.FromUInt32(0)); // ALL_F32
        foreach (var t in source.Tensors)
        {
            var info = t;
            if (_byName.TryGetValue(t.Name, out var p))
                w.AddTensor(t.Name, GgmlType.F32, (long[])t.Dims.Clone(), MemoryMarshal.AsBytes(p.Values.AsSpan()));
            else
                w.AddTensor(t.Name, t.Type, (long[])t.Dims.Clone(), source.GetTensorBytes(info));
        }
        w.Write(path);
    }

    /// <summary>Reads values back from a GGUF written by <see cref="SaveGguf"/> (resume); every parameter must be present as F32 with its shape.</summary>
    public void LoadGguf(string path)
    {
        using var file = GgufFile.Open(path);
        foreach (var p in _params)
        {
            if (!file.TryGetTensor(p.Name, out var t))
                throw new InvalidDataException($"{path}: tensor '{p.Name}' is missing; the checkpoint belongs to another model.");
            if (t.Type != GgmlType.F32 || t.Rows != p.Shape[0] || t.Cols != p.Shape[1])
                throw new InvalidDataException($"{path}: tensor '{p.Name}' is {GgmlTypes.Traits(t.Type).Name} [{t.Rows}, {t.Cols}], expected f32 [{p.Shape[0]}, {p.Shape[1]}]; the checkpoint belongs to another model.");
            new ReadOnlySpan<float>(t.Data, p.Values.Length).CopyTo(p.Values);
        }
    }

    private sealed class Unowned : IDisposable
    {
        public void Dispose() { }
    }
}
