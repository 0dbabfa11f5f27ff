using System.Text.Json;
using System.Text.Json.Serialization;

namespace RagTune.Models.Downloads;

/// <summary>
/// A downloaded model in the cache: <c>&lt;models-dir&gt;/&lt;name&gt;/&lt;variant&gt;/</c> holding its files and a
/// manifest (<c>ragtune-model.json</c>, format <c>ragtune-model</c> v1) written last, so a folder without a manifest
/// is an unfinished pull.
/// </summary>
public sealed record CachedModel(string Name, string Variant, string Source, string Revision, string? Primary, IReadOnlyList<CachedFile> Files)
{
    /// <summary>The manifest's file name inside the model folder.</summary>
    public const string ManifestName = "ragtune-model.json";

    /// <summary>The format name the manifest carries (checked on read).</summary>
    public const string FormatName = "ragtune-model";

    /// <summary>The manifest's format version; a newer one is refused on read.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>The folder holding the files (set when read from disk).</summary>
    [JsonIgnore]
    public string Directory { get; init; } = "";

    /// <summary>What a <c>--model</c> option should get: the primary file, or the folder for multi-file models.</summary>
    [JsonIgnore]
    public string Path => Primary is null ? Directory : System.IO.Path.Combine(Directory, Primary);

    /// <summary>The size of all its files, in bytes.</summary>
    [JsonIgnore]
    public long Bytes => Files.Sum(f => f.Size);

    /// <summary>Writes the manifest atomically (temporary file, then rename).</summary>
    public void Save()
    {
        var doc = new Manifest(FormatName, FormatVersion, Name, Variant, Source, Revision, Primary, Files);
        var path = System.IO.Path.Combine(Directory, ManifestName);
        var tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(tmp, JsonSerializer.Serialize(doc, s_json));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads the manifest of <paramref name="directory"/>; null when there is none (an unfinished pull).</summary>
    public static CachedModel? TryLoad(string directory)
    {
        var path = System.IO.Path.Combine(directory, ManifestName);
        if (!File.Exists(path)) return null;
        Manifest? m;
        try
        {
            m = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(path), s_json);
        }
        catch (JsonException e)
        {
            throw new IOException($"{path}: not a valid model manifest ({e.Message}); delete the folder and pull again.", e);
        }
        if (m is null || m.Format != FormatName || m.Version != FormatVersion || m.Name is null || m.Variant is null)
            throw new IOException($"{path}: not a {FormatName} v{FormatVersion} manifest; delete the folder and pull again.");
        return new CachedModel(m.Name, m.Variant, m.Source ?? "", m.Revision ?? "", m.Primary, m.Files ?? []) { Directory = directory };
    }

    /// <summary>Every finished model under <paramref name="modelsDir"/>.</summary>
    public static List<CachedModel> List(string modelsDir)
    {
        var result = new List<CachedModel>();
        if (!System.IO.Directory.Exists(modelsDir)) return result;
        foreach (var nameDir in System.IO.Directory.EnumerateDirectories(modelsDir).Order(StringComparer.Ordinal))
            foreach (var variantDir in System.IO.Directory.EnumerateDirectories(nameDir).Order(StringComparer.Ordinal))
                if (TryLoad(variantDir) is { } m)
                    result.Add(m);
        return result;
    }

    private sealed record Manifest(string? Format, int Version, string? Name, string? Variant, string? Source, string? Revision, string? Primary, IReadOnlyList<CachedFile>? Files);
}

/// <summary>One file of a cached model, as verified at download.</summary>
public sealed record CachedFile(string Path, long Size, string Sha256);
