namespace RagTune.FineTuning.Embeddings;

/// <summary>Copies what a Hugging Face / sentence-transformers model folder holds besides its weights.</summary>
internal static class HuggingFaceFolder
{
    // Weight files of other frameworks would be stale next to the tuned model.safetensors, so they are not copied.
    private static readonly string[] WeightExtensions = [".safetensors", ".bin", ".onnx", ".h5", ".msgpack", ".ot", ".gguf", ".pt", ".pth"];

    /// <summary>
    /// Copies config, tokenizer and sentence-transformers module files (<c>config.json</c>, <c>vocab.txt</c>,
    /// <c>tokenizer.json</c>, <c>modules.json</c>, <c>1_Pooling/config.json</c>, …) from <paramref name="source"/> to
    /// <paramref name="destination"/> (created), skipping weight files and hidden folders.
    /// </summary>
    public static void CopyNonWeightFiles(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(source, file);
            if (rel.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.'))) continue;
            if (WeightExtensions.Contains(Path.GetExtension(file), StringComparer.OrdinalIgnoreCase)) continue;
            if (rel.StartsWith("onnx", StringComparison.Ordinal) || rel.StartsWith("openvino", StringComparison.Ordinal)) continue;
            var target = Path.Combine(destination, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}
