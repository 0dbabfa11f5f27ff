using System.Text.Json;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Formats;

/// <summary>
/// The safetensors weights of a Hugging Face folder: <c>model.safetensors</c>, or the shards listed by
/// <c>model.safetensors.index.json</c> (<c>{"weight_map": {tensor: shard file}}</c>, transformers'
/// <c>SAFE_WEIGHTS_INDEX_NAME</c>). Every shard is opened and checked up front, so a missing shard fails at load
/// with its name.
/// </summary>
public sealed class SafetensorsShards : IDisposable
{
    /// <summary>The weights file of an unsharded checkpoint (transformers' <c>SAFE_WEIGHTS_NAME</c>).</summary>
    public const string SingleFileName = "model.safetensors";
    internal const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner;

    private SafetensorsShards(string folder, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        Folder = folder;
        _files = files;
        _owner = owner;
    }

    /// <summary>The folder holding the weights.</summary>
    public string Folder { get; }

    /// <summary>The opened files (one, or every shard).</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>Every tensor name, in file then header order.</summary>
    public IEnumerable<string> TensorNames => _files.SelectMany(f => f.Tensors.Select(t => t.Name));

    /// <summary>Opens the checkpoint in <paramref name="folder"/>: its index and every shard, or the single file.</summary>
    public static SafetensorsShards Open(string folder)
    {
        var full = Path.GetFullPath(folder);
        var index = Path.Combine(full, IndexFileName);
        var single = Path.Combine(full, SingleFileName);
        if (File.Exists(index)) return OpenIndexed(full, index);
        if (!File.Exists(single))
            throw new FileNotFoundException($"{full}: neither {SingleFileName} nor {IndexFileName} is in the folder, so it holds no safetensors weights. Download the model's weights into it.", single);
        var file = SafetensorsFile.Open(single);
        return new SafetensorsShards(full, [file], file.Tensors.ToDictionary(t => t.Name, _ => file, StringComparer.Ordinal));
    }

    private static SafetensorsShards OpenIndexed(string folder, string index)
    {
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(index, "'weight_map' is missing or not an object. Re-download the index.");
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new ModelFormatException(index, $"weight_map entry '{p.Name}' is not a file name.");
                weightMap[p.Name] = p.Value.GetString()!;
            }
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(index, $"not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }

        var files = new List<SafetensorsFile>();
        var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in weightMap.Values.Distinct().Order(StringComparer.Ordinal))
            {
                if (shard.Contains('/') || shard.Contains('\\') || shard is "." or "..")
                    throw new ModelFormatException(index, $"shard name '{shard}' is not a plain file name in the folder.");
                var path = Path.Combine(folder, shard);
                if (!File.Exists(path))
                {
                    int n = weightMap.Count(kv => kv.Value == shard);
                    throw new FileNotFoundException($"{folder}: shard '{shard}' (holding {n} tensors, listed in {IndexFileName}) is missing. The download is incomplete; fetch that file too.", path);
                }
                var file = SafetensorsFile.Open(path);
                files.Add(file);
                byShard[shard] = file;
            }
            foreach (var (name, shard) in weightMap)
            {
                var file = byShard[shard];
                if (file.Find(name) == null)
                    throw new ModelFormatException(file.Path, $"tensor '{name}' is listed in {IndexFileName} for this shard but the shard does not hold it. The index and shards are from different versions; re-download them.");
                owner[name] = file;
            }
            return new SafetensorsShards(folder, files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>A view of tensor <paramref name="name"/> wherever it lives; false when no file holds it.</summary>
    public bool TryGetTensor(string name, out TensorView view)
    {
        if (_owner.TryGetValue(name, out var file)) return file.TryGetTensor(name, out view);
        view = default;
        return false;
    }

    /// <summary>Like <see cref="TryGetTensor"/> but a missing tensor is an error naming it.</summary>
    public TensorView GetTensor(string name) => TryGetTensor(name, out var v) ? v
        : throw new ModelFormatException(Folder, $"tensor '{name}' is missing from the safetensors weights. The model is incomplete or of another architecture than its config.json says.");

    /// <summary>The file holding <paramref name="name"/>, or null.</summary>
    public SafetensorsFile? FileOf(string name) => _owner.GetValueOrDefault(name);

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
