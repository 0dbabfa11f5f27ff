using RagTune.Models.Catalog;

namespace RagTune.Models.Downloads;

/// <summary>
/// Turns what a user passes to <c>--model</c> into a path: an existing file or folder as is; otherwise a cached
/// model by name (<c>tinyllama-1.1b-chat</c>, <c>tinyllama-1.1b-chat:q4_k_m</c>, <c>owner/repo:file.gguf</c>).
/// A catalog name that is not downloaded yet gets a message saying which pull command fetches it.
/// </summary>
public sealed class ModelResolver(string modelsDir, ModelCatalog? catalog)
{
    /// <summary>Resolves with the default cache folder and the built-in catalog.</summary>
    public static string Resolve(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        if (File.Exists(nameOrPath) || Directory.Exists(nameOrPath)) return Path.GetFullPath(nameOrPath);
        ModelCatalog? catalog = null;
        try { catalog = ModelCatalog.LoadDefault(); }
        catch (CatalogFormatException) { /* cached names still resolve without a catalog */ }
        return new ModelResolver(ModelDownloaderOptions.DefaultModelsDir(), catalog).ResolvePath(nameOrPath);
    }

    internal string ResolvePath(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        if (File.Exists(nameOrPath) || Directory.Exists(nameOrPath)) return Path.GetFullPath(nameOrPath);
        if (Find(nameOrPath) is { } cached) return cached.Path;

        var (name, variant) = Split(nameOrPath);
        if (catalog?.Find(name) is { } entry)
        {
            var type = variant ?? entry.DefaultVariant;
            throw new FileNotFoundException($"model '{entry.Name}' ({type}) is in the catalog but not downloaded to {modelsDir}; "
                + $"run: ragtune model pull {entry.Name}{(variant != null ? $" --type {variant}" : "")}", nameOrPath);
        }
        throw new FileNotFoundException($"'{nameOrPath}' is neither a file nor a downloaded model in {modelsDir}; "
            + "see `ragtune model list`, or pull it with `ragtune model pull <name>`.", nameOrPath);
    }

    /// <summary>The cached model a name refers to, or null.</summary>
    public CachedModel? Find(string nameOrPath)
    {
        var (name, variant) = Split(nameOrPath);
        if (name.Contains('/'))
        {
            // owner/repo[:file] is cached as owner--repo/<file stem>.
            if (name.Split('/').Length != 2) return null;
            (name, var stem) = CacheNames.ForHubFile(name, variant ?? "x");
            variant = variant is null ? null : stem;
        }
        name = name.ToLowerInvariant();
        if (name.Contains('\\') || name.Contains("..") || name.Contains(Path.DirectorySeparatorChar)) return null;
        var dir = Path.Combine(modelsDir, name);
        if (!Directory.Exists(dir)) return null;
        if (variant != null) return CachedModel.TryLoad(Path.Combine(dir, variant.ToLowerInvariant()));
        // No variant named: the catalog's default when cached, else the only (or first) cached one.
        if (catalog?.Find(name) is { } entry && CachedModel.TryLoad(Path.Combine(dir, entry.DefaultVariant.ToLowerInvariant())) is { } preferred)
            return preferred;
        return Directory.EnumerateDirectories(dir).Order(StringComparer.Ordinal).Select(CachedModel.TryLoad).FirstOrDefault(m => m != null);
    }

    /// <summary><c>name:variant</c> → (name, variant); a bare name → (name, null).</summary>
    public static (string Name, string? Variant) Split(string nameOrPath)
    {
        int colon = nameOrPath.LastIndexOf(':');
        // "C:\..." and URLs are not name:variant.
        bool drive = colon == 1 && nameOrPath.Length > 2 && nameOrPath[2] is '\\' or '/';
        if (colon <= 0 || drive || colon == nameOrPath.Length - 1 || nameOrPath.Contains("://")) return (nameOrPath, null);
        return (nameOrPath[..colon], nameOrPath[(colon + 1)..]);
    }
}
