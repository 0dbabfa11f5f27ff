using RagTune.Tokenizers;
using RagTune.Tokenizers.ChatTemplates;
using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;

namespace RagTune.Models.Creation;

/// <summary>What a conversion did, for the CLI to report.</summary>
/// <param name="Tensors">Tensors written.</param>
/// <param name="KeptF32">Matrices kept in F32 because their width is not a whole number of blocks.</param>
/// <param name="Warnings">Things the user should know (no tokenizer written, …).</param>
public sealed record ConversionResult(int Tensors, int KeptF32, IReadOnlyList<string> Warnings);

/// <summary>
/// Writes GGUF files from a Hugging Face folder (like llama.cpp's convert_hf_to_gguf.py: llama.cpp tensor names and
/// metadata, Q/K rows permuted for NORM RoPE in <c>llama</c>, Llama 3 scaling as <c>rope_freqs.weight</c>) or from
/// another GGUF (requantization). Matrices go to the requested type row by row through F32; norms, biases and
/// other vectors stay F32. Tensors stream from the mapped source, so memory stays flat.
/// </summary>
public static class GgufConverter
{
    /// <summary>Converts <paramref name="source"/> (a Hugging Face folder or a .gguf file) to <paramref name="outPath"/>.</summary>
    /// <remarks><paramref name="mediumMix"/> with Q4_K writes llama.cpp's Q4_K_M mix (<see cref="KQuantMix"/>).</remarks>
    public static ConversionResult Convert(string source, GgmlType type, string outPath, bool mediumMix = false)
    {
        var traits = GgmlTypes.Traits(type);
        if (!traits.Supported)
            throw new ArgumentException($"Type '{traits.Name}' cannot be written; choose f32, f16, bf16, q8_0, q4_0, q4_k, q5_k or q6_k.", nameof(type));
        if (Path.GetFullPath(source) == Path.GetFullPath(outPath))
            throw new ArgumentException("The output path is the input file; write to a new file.", nameof(outPath));
        return Directory.Exists(source) ? FromHuggingFace(source, type, outPath, mediumMix) : FromGguf(source, type, outPath, mediumMix);
    }

    /// <summary>llama.cpp's <c>general.file_type</c> (enum llama_ftype) of a whole-model type.</summary>
    public static uint FileType(GgmlType type, bool mediumMix = false) => type switch
    {
        GgmlType.F32 => 0,   // LLAMA_FTYPE_ALL_F32
        GgmlType.F16 => 1,   // LLAMA_FTYPE_MOSTLY_F16
        GgmlType.Q4_0 => 2,  // LLAMA_FTYPE_MOSTLY_Q4_0
        GgmlType.Q8_0 => 7,  // LLAMA_FTYPE_MOSTLY_Q8_0
        GgmlType.Q4_K => mediumMix ? 15u : 14u, // LLAMA_FTYPE_MOSTLY_Q4_K_M / _Q4_K_S
        GgmlType.Q5_K => 17, // LLAMA_FTYPE_MOSTLY_Q5_K_M (Q5_K everywhere here)
        GgmlType.Q6_K => 18, // LLAMA_FTYPE_MOSTLY_Q6_K
        GgmlType.BF16 => 32, // LLAMA_FTYPE_MOSTLY_BF16
        _ => throw new ArgumentException($"No llama.cpp file type for {type}.", nameof(type)),
    };

    private static ConversionResult FromHuggingFace(string folder, GgmlType type, string outPath, bool mediumMix)
    {
        folder = Path.GetFullPath(folder);
        var hf = HuggingFaceConfig.Read(folder);
        var c = hf.Config;
        var a = c.Architecture;
        var warnings = new List<string>();
        using var shards = SafetensorsShards.Open(folder);

        var w = new GgufWriter();
        w.SetString("general.architecture", a);
        w.SetString("general.name", Path.GetFileName(folder));
        w.SetUInt32("general.file_type", FileType(type, mediumMix));
        if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)) w.SetUInt32("general.quantization_version", 2); // GGML_QNT_VERSION
        GgufMetadata.AddHyperparameters(w, c);
        if (hf.BosTokenId is { } bos) w.SetUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (hf.EosTokenId is { } eos) w.SetUInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        var tokenizerJson = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(tokenizerJson))
            GgufMetadata.AddByteLevel(w, ByteLevelBpeTokenizer.FromTokenizerJson(tokenizerJson, padToVocabSize: c.VocabSize),
                File.Exists(Path.Combine(folder, "tokenizer_config.json")) ? ChatTemplate.ReadFromTokenizerConfig(Path.Combine(folder, "tokenizer_config.json")) : null);
        else
            warnings.Add("the folder has no tokenizer.json; the GGUF has no tokenizer. Pass --tokenizer when running it.");

        int keptF32 = 0, count = 0;
        var mapped = new HashSet<string>(StringComparer.Ordinal);
        foreach (var hfName in shards.TensorNames)
        {
            var gguf = HuggingFaceNames.ToGguf(hfName);
            if (gguf == null)
            {
                if (!hfName.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal))
                    warnings.Add($"tensor '{hfName}' has no GGUF counterpart and was skipped.");
                continue;
            }
            if (gguf == "output.weight" && hf.TiedOutput) continue;
            var view = shards.GetTensor(hfName);
            int heads = gguf.EndsWith("attn_q.weight", StringComparison.Ordinal) || gguf.EndsWith("attn_q.bias", StringComparison.Ordinal) ? c.Heads
                : gguf.EndsWith("attn_k.weight", StringComparison.Ordinal) || gguf.EndsWith("attn_k.bias", StringComparison.Ordinal) ? c.KvHeads : 0;
            int permuteHeads = hf.Family.PermuteQkForGguf ? heads : 0;
            if (AddTensor(w, gguf, view, KQuantMix.Choose(gguf, type, mediumMix, c.Layers, hf.TiedOutput), permuteHeads, c.HeadDim)) keptF32++;
            mapped.Add(gguf);
            count++;
        }
        if (!mapped.Contains("token_embd.weight"))
            throw new ModelFormatException(folder, "tensor 'model.embed_tokens.weight' is missing; the folder does not hold a complete model.");
        if (c.RopeScaling is { } scaling)
        {
            RandomModelWriter.AddRopeFreqs(w, c, scaling);
            count++;
        }
        w.Write(outPath);
        return new ConversionResult(count, keptF32, warnings);
    }

    private static ConversionResult FromGguf(string path, GgmlType type, string outPath, bool mediumMix)
    {
        using var file = GgufFile.Open(path);
        // Reading the config validates the architecture and hyperparameters before anything is written.
        var config = GgufModelLoader.ReadConfig(file);
        bool tied = !file.Tensors.Any(t => t.Name == "output.weight");
        var w = new GgufWriter();
        foreach (var key in file.MetadataKeys) w.Set(key, file.Metadata[key]);
        w.SetUInt32("general.file_type", FileType(type, mediumMix));
        if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)) w.SetUInt32("general.quantization_version", 2);
        int keptF32 = 0;
        foreach (var t in file.Tensors)
        {
            var view = file.GetTensor(t.Name);
            if (!GgmlTypes.Traits(view.Type).Supported)
                throw new ModelFormatException(path, $"tensor '{t.Name}' has type {GgmlTypes.Traits(view.Type).Name}, which cannot be converted yet.");
            if (AddTensor(w, t.Name, view, KQuantMix.Choose(t.Name, type, mediumMix, config.Layers, tied), permuteHeads: 0, headDim: 0)) keptF32++;
        }
        w.Write(outPath);
        return new ConversionResult(file.Tensors.Count, keptF32, []);
    }

    // Adds one tensor converted to `type` (vectors: F32). Returns true when a matrix had to stay F32.
    private static unsafe bool AddTensor(GgufWriter w, string name, TensorView src, GgmlType type, int permuteHeads, int headDim)
    {
        // Vectors, and the canon layer's few lag weights per channel (read as floats), stay F32.
        bool vector = (src.Rows == 1 && !name.StartsWith("token_embd", StringComparison.Ordinal) && name != "output.weight")
            || name.EndsWith("." + Engine.Models.GgufModelLoader.CanonTensorSuffix, StringComparison.Ordinal);
        var target = vector ? GgmlType.F32 : KQuantMix.Fallback(type, src.Cols);
        int rows = checked((int)src.Rows), cols = src.Cols;
        long[] dims = vector ? [cols] : [cols, rows];
        w.AddTensor(name, target, dims, stream =>
        {
            var row = new float[cols];
            var outRow = vector && permuteHeads > 0 ? new float[cols] : row;
            var bytes = new byte[GgmlTypes.Traits(target).RowBytes(cols)];
            for (int r = 0; r < rows; r++)
            {
                // HF row order within a head is [first halves..., second halves...]; GGUF llama interleaves them:
                // GGUF row h*hd + 2i + j comes from HF row h*hd + j*hd/2 + i (convert_hf_to_gguf.py's permute).
                int srcRow = !vector && permuteHeads > 0 ? HfRowOf(r, headDim) : r;
                GgmlRows.Dequantize(src.Type, src.Row(srcRow), row);
                if (vector && permuteHeads > 0)
                    for (int e = 0; e < cols; e++) outRow[e] = row[HfRowOf(e, headDim)];
                GgmlRows.Quantize(target, outRow, bytes);
                stream.Write(bytes);
            }
        });
        return !vector && target != type;
    }

    private static int HfRowOf(int ggufRow, int headDim)
    {
        int h = ggufRow / headDim, within = ggufRow % headDim;
        return h * headDim + (within % 2) * (headDim / 2) + within / 2;
    }
}
