using System.Text.Json;
using System.Text.RegularExpressions;

namespace RagTune.Hosting.Tuning;

/// <summary>An adapter served at run time: the base model's id, the adapter's name, and its folder (relative to the data directory when inside it).</summary>
public sealed record ServedAdapter(string Model, string Name, string Folder);

/// <summary>
/// The adapters a running server was asked to serve, kept in <c>&lt;data&gt;/served-adapters.json</c> (format name and
/// version checked on load) so a restarted server serves them again. Writes go to a temporary file moved into place.
/// </summary>
public sealed partial class RememberedAdapters(RagTuneOptions options)
{
    /// <summary>The format name the file carries (checked on load).</summary>
    public const string FormatName = "ragtune-served-adapters";
    /// <summary>The file's format version; a newer one is refused on load.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly object _lock = new();

    private sealed record FileBody(string Format, int Version, List<ServedAdapter> Adapters);

    /// <summary>The file: <c>&lt;data&gt;/served-adapters.json</c>.</summary>
    public string FilePath => Path.Combine(options.ResolvedDataDirectory, "served-adapters.json");

    /// <summary>Checks an adapter name for a model id <c>{model}+{name}</c>: 1–64 letters, digits, '-', '_' or '.'.</summary>
    public static string CheckName(string? name) =>
        name is not null && NamePattern().IsMatch(name)
            ? name
            : throw HostingException.Invalid($"Adapter name '{name}' is not usable: give 1-64 letters, digits, '-', '_' or '.' (it becomes the model id 'model+name').", "name");

    /// <summary>The remembered adapters with absolute folders; none when the file does not exist.</summary>
    /// <exception cref="InvalidDataException">The file is damaged or of another format; the message names it and the fix.</exception>
    public IReadOnlyList<ServedAdapter> Load()
    {
        lock (_lock) return [.. Read().Select(a => a with { Folder = Path.GetFullPath(a.Folder, options.ResolvedDataDirectory) })];
    }

    /// <summary>Adds <paramref name="adapter"/> (replacing an entry of the same model and name).</summary>
    public void Remember(ServedAdapter adapter)
    {
        lock (_lock)
        {
            var list = Read().Where(a => !(a.Model == adapter.Model && a.Name == adapter.Name)).ToList();
            var folder = Path.GetRelativePath(options.ResolvedDataDirectory, adapter.Folder);
            list.Add(adapter with { Folder = folder.StartsWith("..", StringComparison.Ordinal) ? adapter.Folder : folder.Replace('\\', '/') });
            Directory.CreateDirectory(options.ResolvedDataDirectory);
            var temp = FilePath + ".tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(new FileBody(FormatName, FormatVersion, list), s_json));
            File.Move(temp, FilePath, overwrite: true);
        }
    }

    private List<ServedAdapter> Read()
    {
        if (!File.Exists(FilePath)) return [];
        FileBody? body;
        try
        {
            body = JsonSerializer.Deserialize<FileBody>(File.ReadAllText(FilePath), s_json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{FilePath}: not valid JSON (line {e.LineNumber + 1}): {e.Message}. Fix or delete the file; it only lists adapters to serve again.", e);
        }
        if (body?.Format != FormatName)
            throw new InvalidDataException($"{FilePath}: field 'format' is '{body?.Format}', expected '{FormatName}'. Fix or delete the file.");
        if (body.Version is < 1 or > FormatVersion)
            throw new InvalidDataException($"{FilePath}: field 'version' is {body.Version}; this build reads version {FormatVersion}. Upgrade RagTune or delete the file.");
        return body.Adapters ?? [];
    }

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
