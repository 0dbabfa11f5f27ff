using System.Runtime.InteropServices;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Models;

/// <summary>Hugging Face tensor names ↔ llama.cpp GGUF names, for the Llama-family layout (llama, qwen2).</summary>
public static class HuggingFaceNames
{
    // (GGUF name within a block, HF name within model.layers.N) — transformers' LlamaDecoderLayer / Qwen2DecoderLayer
    // modules and llama.cpp's tensor_mapping.py.
    private static readonly (string Gguf, string Hf)[] s_block =
    [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_q.bias", "self_attn.q_proj.bias"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_k.bias", "self_attn.k_proj.bias"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_v.bias", "self_attn.v_proj.bias"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
    ];

    private static readonly (string Gguf, string Hf)[] s_global =
    [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ];

    /// <summary>The HF name of a GGUF tensor name, or null when it has none.</summary>
    public static string? ToHf(string gguf)
    {
        foreach (var (g, h) in s_global) if (g == gguf) return h;
        if (!gguf.StartsWith("blk.", StringComparison.Ordinal)) return null;
        int dot = gguf.IndexOf('.', 4);
        if (dot < 0) return null;
        var rest = gguf[(dot + 1)..];
        foreach (var (g, h) in s_block) if (g == rest) return $"model.layers.{gguf[4..dot]}.{h}";
        return null;
    }

    /// <summary>The GGUF name of a HF tensor name, or null when it has none (rotary caches and the like).</summary>
    public static string? ToGguf(string hf)
    {
        foreach (var (g, h) in s_global) if (h == hf) return g;
        const string prefix = "model.layers.";
        if (!hf.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int dot = hf.IndexOf('.', prefix.Length);
        if (dot < 0) return null;
        var rest = hf[(dot + 1)..];
        foreach (var (g, h) in s_block) if (h == rest) return $"blk.{hf[prefix.Length..dot]}.{g}";
        return null;
    }
}

/// <summary>
/// Loads a Hugging Face model folder (config.json + model.safetensors or shards) in place: matrices are viewed in
/// the mapped files (F32, F16 or BF16); only norm and bias vectors stored in 16 bits are widened to F32 (the
/// kernels take them as floats). HF keeps Q/K rows in rotate-half order, so the model runs with NeoX RoPE whatever
/// its family; converting it to a GGUF <c>llama</c> permutes the rows instead (same logits).
/// </summary>
internal static class HuggingFaceModelLoader
{
    public static TransformerModel Load(string folder)
    {
        folder = Path.GetFullPath(folder);
        var hf = HuggingFaceConfig.Read(folder);
        var config = hf.Config with { Rope = RopeMode.NeoX };
        var shards = SafetensorsShards.Open(folder);
        var widened = new WidenedVectors();
        try
        {
            bool Lookup(string gguf, out TensorView view)
            {
                view = default;
                var name = HuggingFaceNames.ToHf(gguf);
                if (name == null || !shards.TryGetTensor(name, out var t)) return false;
                view = t.Rows == 1 && t.Type != GgmlType.F32 ? widened.Widen(t) : t;
                return true;
            }
            var weights = GgufModelLoader.MapWeights(folder, Lookup, config, n => HuggingFaceNames.ToHf(n) ?? n);
            if (hf.HasQkvBias && weights.Layers.Any(l => l.Bq.IsEmpty))
                throw new ModelFormatException(folder, $"config.json says the Q/K/V projections have biases ({hf.Family.HfClass}), but 'model.layers.0.self_attn.q_proj.bias' is missing. The weights do not match the config.");
            return new TransformerModel(folder, config, weights, new Owner(shards, widened), gguf: null);
        }
        catch
        {
            widened.Dispose();
            shards.Dispose();
            throw;
        }
    }

    private sealed class Owner(SafetensorsShards shards, WidenedVectors widened) : IDisposable
    {
        public void Dispose()
        {
            widened.Dispose();
            shards.Dispose();
        }
    }

    /// <summary>F32 copies of 16-bit vectors, in native memory freed with the model.</summary>
    private sealed unsafe class WidenedVectors : IDisposable
    {
        private readonly List<nint> _blocks = [];

        public TensorView Widen(TensorView t)
        {
            var p = (float*)NativeMemory.AlignedAlloc((nuint)t.Cols * sizeof(float), 64);
            _blocks.Add((nint)p);
            Quant.DequantizeRow(t.Type, t.Row(0), new Span<float>(p, t.Cols));
            return new TensorView((byte*)p, GgmlType.F32, 1, t.Cols);
        }

        public void Dispose()
        {
            foreach (var b in _blocks) NativeMemory.AlignedFree((void*)b);
            _blocks.Clear();
        }
    }
}
