using System.Globalization;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Encoders;

/// <summary>
/// Where BERT weights come from, addressed by their Hugging Face names (<c>encoder.layer.0.attention.self.query.weight</c>)
/// and PyTorch shapes: a safetensors file, or a GGUF file whose llama.cpp names are mapped back.
/// </summary>
internal interface IEncoderTensors : IDisposable
{
    /// <summary>The file the tensors live in.</summary>
    string Path { get; }

    /// <summary>Whether the tensor exists.</summary>
    bool Contains(string name);

    /// <summary>A view checked against <paramref name="shape"/> ([out, in] or [n]); throws <see cref="ModelFormatException"/> naming the tensor.</summary>
    TensorView View(string name, params long[] shape);

    /// <summary>A rank-1 tensor expanded to floats.</summary>
    float[] ReadFloats(string name, long length)
    {
        var v = View(name, length);
        var dst = new float[length];
        Quant.DequantizeRow(v.Type, v.Row(0), dst);
        return dst;
    }
}

/// <summary>
/// BERT weights in a Hugging Face <c>model.safetensors</c> (F32, F16 or BF16), read through the shared
/// <see cref="SafetensorsFile"/>; this adds only the checks against the shapes <c>config.json</c> implies.
/// </summary>
internal sealed class SafetensorsEncoderTensors(SafetensorsFile file) : IEncoderTensors
{
    public SafetensorsFile File { get; } = file;

    public string Path => File.Path;

    public bool Contains(string name) => File.Find(name) != null;

    public TensorView View(string name, params long[] shape)
    {
        var info = File.Find(name)
            ?? throw new ModelFormatException(Path, $"tensor '{name}' is missing; the checkpoint is not a BERT model of the expected layout (names like 'encoder.layer.0.attention.self.query.weight').");
        if (SafetensorsFile.EngineType(info.Dtype) == null)
            throw new ModelFormatException(Path, $"tensor '{name}' has dtype {info.Dtype}, not F32, F16 or BF16; convert the checkpoint (e.g. save it with torch_dtype=float16).");
        if (!info.Shape.AsSpan().SequenceEqual(shape))
            throw new ModelFormatException(Path, $"tensor '{name}' has shape [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", shape)}] from config.json; the config and weights do not belong together.");
        File.TryGetTensor(name, out var view);
        return view;
    }

    public void Dispose() => File.Dispose();
}

/// <summary>
/// BERT weights in a llama.cpp GGUF file (architecture <c>bert</c>): names as llama.cpp's converter writes them
/// (<c>token_embd</c>, <c>blk.N.attn_q</c>, <c>blk.N.ffn_up</c>, <c>blk.N.layer_output_norm</c>, …), any type the
/// engine multiplies (F32, F16, BF16, Q8_0, Q4_0).
/// </summary>
internal sealed class GgufEncoderTensors(GgufFile file) : IEncoderTensors
{
    public GgufFile File { get; } = file;

    public string Path => File.Path;

    public bool Contains(string name) => GgufName(name) is { } g && File.TryGetTensor(g, out _);

    public TensorView View(string name, params long[] shape)
    {
        var g = GgufName(name) ?? throw new ModelFormatException(Path, $"tensor '{name}' has no GGUF counterpart; this GGUF BERT lacks it.");
        var v = File.GetTensor(g);
        long rows = shape.Length == 2 ? shape[0] : 1;
        if (v.Rows != rows || v.Cols != shape[^1])
            throw new ModelFormatException(Path, $"tensor '{g}' is [{v.Rows}, {v.Cols}] (rows, cols), expected [{rows}, {shape[^1]}] from the bert.* metadata; the file is inconsistent.");
        return v;
    }

    public void Dispose() => File.Dispose();

    // Hugging Face name → llama.cpp name (convert_hf_to_gguf.py's tensor map for BERT).
    internal static string? GgufName(string hf)
    {
        if (hf.StartsWith("bert.", StringComparison.Ordinal)) hf = hf[5..];
        switch (hf)
        {
            case "embeddings.word_embeddings.weight": return "token_embd.weight";
            case "embeddings.position_embeddings.weight": return "position_embd.weight";
            case "embeddings.token_type_embeddings.weight": return "token_types.weight";
            case "embeddings.LayerNorm.weight": return "token_embd_norm.weight";
            case "embeddings.LayerNorm.bias": return "token_embd_norm.bias";
        }
        const string layer = "encoder.layer.";
        if (!hf.StartsWith(layer, StringComparison.Ordinal)) return null;
        int dot = hf.IndexOf('.', layer.Length);
        if (dot < 0 || !int.TryParse(hf.AsSpan(layer.Length, dot - layer.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int l)) return null;
        string rest = hf[(dot + 1)..];
        int last = rest.LastIndexOf('.');
        string part = rest[..last], kind = rest[(last + 1)..];
        string? g = part switch
        {
            "attention.self.query" => "attn_q",
            "attention.self.key" => "attn_k",
            "attention.self.value" => "attn_v",
            "attention.output.dense" => "attn_output",
            "attention.output.LayerNorm" => "attn_output_norm",
            "intermediate.dense" => "ffn_up",
            "output.dense" => "ffn_down",
            "output.LayerNorm" => "layer_output_norm",
            _ => null,
        };
        return g == null ? null : string.Create(CultureInfo.InvariantCulture, $"blk.{l}.{g}.{kind}");
    }
}
