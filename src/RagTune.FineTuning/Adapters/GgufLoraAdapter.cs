using System.Runtime.InteropServices;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Engine.Training;

namespace RagTune.FineTuning.Adapters;

/// <summary>
/// llama.cpp's LoRA GGUF (as convert_lora_to_gguf.py writes it, loaded with <c>--lora</c>): general.type "adapter",
/// adapter.type "lora", adapter.lora.alpha, and per targeted weight <c>blk.N.attn_q.weight.lora_a</c> (ggml ne
/// [in, r], PyTorch A [r, in]) and <c>.lora_b</c> (ne [r, out]). Rows stay in the base GGUF's order, so no Q/K
/// permutation is applied here.
/// </summary>
public static class GgufLoraAdapter
{
    private static readonly string[] s_gguf = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    /// <summary>The GGUF tensor name of (layer, target) in the base model.</summary>
    public static string BaseTensorName(int layer, LoraTargets target) => $"blk.{layer}.{s_gguf[LoraTargetNames.Index(target)]}.weight";

    /// <summary>Writes <paramref name="adapter"/> (trained for a base with config <paramref name="model"/>) as a GGUF LoRA file at <paramref name="path"/>; <paramref name="baseName"/> names the base in its metadata.</summary>
    public static void Save(LoraAdapter adapter, ModelConfig model, string path, string baseName)
    {
        var w = new GgufWriter();
        w.SetString("general.architecture", model.Architecture);
        w.SetString("general.type", "adapter");
        w.SetString("general.name", baseName + " LoRA");
        w.SetString("adapter.type", "lora");
        w.SetFloat32("adapter.lora.alpha", adapter.Config.Alpha);
        for (int l = 0; l < adapter.Layers; l++)
            foreach (var t in LoraTargetNames.Order)
            {
                if (adapter.Module(l, t) is not { } m) continue;
                var name = BaseTensorName(l, t);
                w.AddTensor(name + ".lora_a", GgmlType.F32, [m.In, adapter.Config.Rank], MemoryMarshal.AsBytes(m.A.Values.AsSpan()));
                w.AddTensor(name + ".lora_b", GgmlType.F32, [adapter.Config.Rank, m.Out], MemoryMarshal.AsBytes(m.B.Values.AsSpan()));
            }
        w.Write(path);
    }
}

/// <summary>
/// Folds an adapter into its base: W' = W + (alpha/r)·B·A for every targeted weight, requantized to the base tensor's
/// own type (F32/F16/BF16/Q8_0/Q4_0); every other tensor and all metadata are copied unchanged.
/// </summary>
public static class AdapterMerger
{
    /// <summary>Writes <paramref name="baseModel"/> with <paramref name="adapter"/> folded in as a GGUF model file at <paramref name="outPath"/>.</summary>
    public static void MergeToGguf(TransformerModel baseModel, LoraAdapter adapter, string outPath)
    {
        var gguf = baseModel.Gguf ?? throw new AdapterFormatException($"{baseModel.Path}: merging writes a GGUF and needs a GGUF base; convert the llama2.c checkpoint first (ragtune model convert) or load the adapter at inference.");
        if (baseModel.Config.Rope != RopeMode.Normal && baseModel.Config.Architecture == "llama")
            throw new AdapterFormatException("Merging into a Hugging Face (NeoX-ordered) llama is not supported; merge into its GGUF.");
        adapter.Validate(baseModel.Config);
        var targetsByName = new Dictionary<string, (int Layer, LoraTargets Target)>();
        for (int l = 0; l < adapter.Layers; l++)
            foreach (var t in LoraTargetNames.Order)
                if (adapter.Module(l, t) != null) targetsByName[GgufLoraAdapter.BaseTensorName(l, t)] = (l, t);

        var w = new GgufWriter();
        foreach (var key in gguf.MetadataKeys) w.Set(key, gguf.Metadata[key]);
        foreach (var info in gguf.Tensors)
        {
            if (targetsByName.TryGetValue(info.Name, out var lt))
            {
                var view = gguf.GetTensor(info.Name);
                int rows = checked((int)view.Rows), cols = view.Cols;
                var f = new float[rows * cols];
                for (int r = 0; r < rows; r++) GgmlRows.Dequantize(view.Type, view.Row(r), f.AsSpan(r * cols, cols));
                adapter.MergeInto(f, lt.Layer, lt.Target);
                int rowBytes = checked((int)GgmlTypes.Traits(info.Type).RowBytes(cols));
                var bytes = new byte[(long)rowBytes * rows];
                for (int r = 0; r < rows; r++) GgmlRows.Quantize(info.Type, f.AsSpan(r * cols, cols), bytes.AsSpan(r * rowBytes, rowBytes));
                w.AddTensor(info.Name, info.Type, (long[])info.Dims.Clone(), bytes);
            }
            else
            {
                var copy = gguf.GetTensorBytes(info).ToArray();
                w.AddTensor(info.Name, info.Type, (long[])info.Dims.Clone(), copy);
            }
        }
        w.Write(outPath);
    }
}
