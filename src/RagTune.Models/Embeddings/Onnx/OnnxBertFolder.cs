using System.Security.Cryptography;
using RagTune.Engine.Encoders;
using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;

namespace RagTune.Models.Embeddings.Onnx;

/// <summary>
/// Where an ONNX encoder's pieces are: the <c>.onnx</c> file, the folder holding its tokenizer (<c>vocab.txt</c> or
/// <c>tokenizer.json</c>) and, when it is a Hugging Face repository layout, the sentence-transformers files.
/// </summary>
/// <param name="OnnxFile">The model.onnx.</param>
/// <param name="Folder">The model folder: the .onnx file's folder, or its parent when the file is in <c>onnx/</c>.</param>
public sealed record OnnxEncoderSource(string OnnxFile, string Folder)
{
    /// <summary>
    /// The ONNX encoder <paramref name="path"/> points at: a <c>.onnx</c> file, or a folder holding <c>model.onnx</c>
    /// or <c>onnx/model.onnx</c> and no <c>model.safetensors</c> (a folder with safetensors loads those instead).
    /// Null when the path is neither.
    /// </summary>
    public static OnnxEncoderSource? Find(string path)
    {
        path = Path.GetFullPath(path);
        if (File.Exists(path) && path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            var dir = Path.GetDirectoryName(path)!;
            bool nested = string.Equals(Path.GetFileName(dir), "onnx", StringComparison.OrdinalIgnoreCase) && !HasTokenizer(dir);
            return new OnnxEncoderSource(path, nested ? Path.GetDirectoryName(dir)! : dir);
        }
        if (!Directory.Exists(path) || File.Exists(Path.Combine(path, "model.safetensors"))) return null;
        foreach (var candidate in new[] { Path.Combine(path, "model.onnx"), Path.Combine(path, "onnx", "model.onnx") })
            if (File.Exists(candidate)) return new OnnxEncoderSource(candidate, path);
        return null;
    }

    /// <summary>Whether the folder holds a WordPiece tokenizer.</summary>
    public bool HasTokenizer() => HasTokenizer(Folder);

    private static bool HasTokenizer(string dir) => File.Exists(Path.Combine(dir, "vocab.txt")) || File.Exists(Path.Combine(dir, "tokenizer.json"));
}

/// <summary>How to describe an imported encoder whose folder has no sentence-transformers files.</summary>
public sealed record OnnxFolderSettings
{
    /// <summary>Pooling written to <c>1_Pooling/config.json</c>; default mean.</summary>
    public EmbeddingPooling Pooling { get; init; } = EmbeddingPooling.Mean;

    /// <summary>Whether a Normalize module follows; default true.</summary>
    public bool Normalize { get; init; } = true;

    /// <summary><c>max_seq_length</c>; null: the model's positions.</summary>
    public int? MaxSeqLength { get; init; }

    /// <summary>The query prompt (<c>config_sentence_transformers.json</c>); null for none.</summary>
    public string? QueryPrompt { get; init; }
}

/// <summary>
/// Writes an imported ONNX encoder in the Hugging Face / sentence-transformers layout (<c>config.json</c>,
/// <c>model.safetensors</c> in F32, the tokenizer files, <c>modules.json</c>, <c>1_Pooling/config.json</c>,
/// <c>sentence_bert_config.json</c>, <c>config_sentence_transformers.json</c>): what <c>ragtune model convert</c>
/// writes, and the cached form <c>--embed-model model.onnx</c> runs from (memory-mapped like any safetensors model).
/// </summary>
public static class OnnxBertFolder
{
    private static readonly string[] s_tokenizerFiles = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="outFolder"/> (created; written beside it and moved into place).
    /// Tokenizer and sentence-transformers files are copied from <paramref name="source"/>'s folder; the latter are
    /// written from <paramref name="settings"/> when the folder has none.
    /// </summary>
    /// <exception cref="FileNotFoundException">The source folder has no vocab.txt or tokenizer.json.</exception>
    public static void Write(OnnxBertModel model, OnnxEncoderSource source, string outFolder, OnnxFolderSettings? settings = null)
    {
        settings ??= new OnnxFolderSettings();
        if (!source.HasTokenizer())
            throw new FileNotFoundException($"{source.Folder} has no vocab.txt or tokenizer.json beside {Path.GetFileName(source.OnnxFile)}; "
                + "put the model's tokenizer file there (the ONNX file carries weights only).", Path.Combine(source.Folder, "vocab.txt"));
        outFolder = Path.GetFullPath(outFolder);
        var tmp = outFolder + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(tmp);
        try
        {
            File.WriteAllText(Path.Combine(tmp, "config.json"), model.Config.ToJson());
            var writer = new SafetensorsWriter();
            writer.SetMetadata("format", "pt");
            foreach (var (name, (shape, values)) in model.Tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
                writer.AddTensor(name, GgmlType.F32, shape, values);
            writer.Write(Path.Combine(tmp, "model.safetensors"));
            foreach (var f in s_tokenizerFiles)
                if (File.Exists(Path.Combine(source.Folder, f))) File.Copy(Path.Combine(source.Folder, f), Path.Combine(tmp, f));
            bool hasSt = SentenceTransformersConfig.FileNames.Any(f => File.Exists(Path.Combine(source.Folder, f)));
            if (hasSt)
            {
                foreach (var f in SentenceTransformersConfig.FileNames)
                {
                    var from = Path.Combine(source.Folder, f);
                    if (!File.Exists(from)) continue;
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(tmp, f))!);
                    File.Copy(from, Path.Combine(tmp, f));
                }
            }
            else
            {
                SentenceTransformersConfig.Write(tmp, model.Config.Hidden, settings.Pooling, settings.Normalize,
                    settings.MaxSeqLength ?? model.Config.MaxPositions, settings.QueryPrompt);
            }
            if (Directory.Exists(outFolder)) Directory.Delete(outFolder, recursive: true);
            Directory.Move(tmp, outFolder);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// The converted folder for <paramref name="source"/> under <paramref name="cacheDir"/>, named by the folder and
    /// the first 16 hex digits of the ONNX file's sha256; imported and written once, reused afterwards.
    /// </summary>
    public static string Cached(OnnxEncoderSource source, string cacheDir)
    {
        string sha;
        using (var stream = new FileStream(source.OnnxFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
            sha = Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
        var name = Path.GetFileName(source.Folder.TrimEnd(Path.DirectorySeparatorChar));
        var folder = Path.Combine(cacheDir, $"{(name.Length > 0 ? name : "model")}-{sha}");
        if (File.Exists(Path.Combine(folder, "model.safetensors")) && File.Exists(Path.Combine(folder, "config.json"))) return folder;
        Directory.CreateDirectory(cacheDir);
        Write(OnnxBertImporter.Import(source.OnnxFile), source, folder);
        return folder;
    }
}
