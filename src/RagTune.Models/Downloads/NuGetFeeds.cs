using System.Text.Json;
using System.Xml.Linq;

namespace RagTune.Models.Downloads;

/// <summary>Settings of <see cref="NuGetFeeds"/>; defaults follow NuGet's own rules.</summary>
public sealed record NuGetFeedOptions
{
    /// <summary>Where <c>nuget.config</c> files are looked for, this folder and each parent; default the current directory.</summary>
    public string WorkingDirectory { get; init; } = Environment.CurrentDirectory;

    /// <summary>The user-wide config; default <c>~/.nuget/NuGet/NuGet.Config</c> (<c>%APPDATA%\NuGet\NuGet.Config</c> on Windows).</summary>
    public string UserConfig { get; init; } = DefaultUserConfig();

    /// <summary>Feeds to use instead of the configured ones (URLs of v3 <c>index.json</c> or local folders); null: the configs'.</summary>
    public IReadOnlyList<string>? Sources { get; init; }

    /// <summary>The global packages folder; null: <c>$NUGET_PACKAGES</c>, else a config's <c>globalPackagesFolder</c>, else <c>~/.nuget/packages</c>.</summary>
    public string? GlobalPackagesFolder { get; init; }

    private static string DefaultUserConfig() => OperatingSystem.IsWindows()
        ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData), "NuGet", "NuGet.Config")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "NuGet", "NuGet.Config");

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(WorkingDirectory);
        ArgumentException.ThrowIfNullOrWhiteSpace(UserConfig);
        if (Sources is { Count: 0 }) throw new ArgumentException("Sources must be null (the configured feeds) or list at least one feed.", nameof(Sources));
    }
}

/// <summary>One package source: a v3 feed (<c>…/index.json</c>) or a local folder feed.</summary>
public sealed record NuGetSource(string Name, string Location)
{
    /// <summary>True for an HTTP(S) feed, false for a local folder feed.</summary>
    public bool IsHttp => Location.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || Location.StartsWith("http://", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// The user's NuGet setup, read the way NuGet reads it: <c>nuget.config</c> files from the working directory up to
/// the root (closest wins), then the user-wide config; <c>&lt;clear/&gt;</c>, <c>&lt;disabledPackageSources&gt;</c> and
/// <c>globalPackagesFolder</c> honoured, <c>$NUGET_PACKAGES</c> first. Finds a package in the global packages folder,
/// else fetches its <c>.nupkg</c> from the feeds in order (v3 <c>PackageBaseAddress</c>, or a folder feed, flat or
/// <c>id/version/</c>). Credentials in configs are not read: an authenticated feed needs the package in the cache.
/// </summary>
public sealed class NuGetFeeds
{
    private NuGetFeeds(IReadOnlyList<NuGetSource> sources, string globalPackages, IReadOnlyList<string> configs)
    {
        Sources = sources;
        GlobalPackagesFolder = globalPackages;
        ConfigFiles = configs;
    }

    /// <summary>Enabled sources in order.</summary>
    public IReadOnlyList<NuGetSource> Sources { get; }

    /// <summary>The global packages folder (the local cache <c>dotnet restore</c> fills).</summary>
    public string GlobalPackagesFolder { get; }

    /// <summary>The config files read, closest first, for messages.</summary>
    public IReadOnlyList<string> ConfigFiles { get; }

    /// <summary>Reads the configuration.</summary>
    /// <exception cref="InvalidDataException">A config file is not valid XML (the message names it).</exception>
    public static NuGetFeeds Load(NuGetFeedOptions? options = null)
    {
        options ??= new NuGetFeedOptions();
        options.Validate();
        var files = new List<string>();
        for (var d = new DirectoryInfo(Path.GetFullPath(options.WorkingDirectory)); d != null; d = d.Parent)
            foreach (var name in new[] { "nuget.config", "NuGet.config", "NuGet.Config" })
            {
                var f = Path.Combine(d.FullName, name);
                if (File.Exists(f) && !files.Contains(f, StringComparer.OrdinalIgnoreCase)) { files.Add(f); break; }
            }
        if (File.Exists(options.UserConfig)) files.Add(options.UserConfig);

        var sources = new List<NuGetSource>();
        var disabled = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string? globalFromConfig = null;
        // Furthest first, so a closer file's <clear/> and <add> override what the user-wide one says.
        foreach (var file in Enumerable.Reverse(files))
        {
            XDocument doc;
            try
            {
                doc = XDocument.Load(file);
            }
            catch (System.Xml.XmlException e)
            {
                throw new InvalidDataException($"{file}: not valid XML ({e.Message}); fix or remove the NuGet config.", e);
            }
            var dir = Path.GetDirectoryName(file)!;
            foreach (var el in doc.Root?.Element("packageSources")?.Elements() ?? [])
            {
                if (el.Name.LocalName == "clear") { sources.Clear(); continue; }
                if (el.Name.LocalName != "add" || el.Attribute("key")?.Value is not { } key || el.Attribute("value")?.Value is not { } value) continue;
                sources.RemoveAll(s => string.Equals(s.Name, key, StringComparison.OrdinalIgnoreCase));
                sources.Add(new NuGetSource(key, Resolve(value, dir)));
            }
            foreach (var el in doc.Root?.Element("disabledPackageSources")?.Elements("add") ?? [])
                if (el.Attribute("key")?.Value is { } key && string.Equals(el.Attribute("value")?.Value, "true", StringComparison.OrdinalIgnoreCase))
                    disabled.Add(key);
            foreach (var el in doc.Root?.Element("config")?.Elements("add") ?? [])
                if (el.Attribute("key")?.Value == "globalPackagesFolder" && el.Attribute("value")?.Value is { Length: > 0 } v)
                    globalFromConfig = Resolve(v, dir);
        }
        var enabled = options.Sources?.Select((s, i) => new NuGetSource($"source{i + 1}", Resolve(s, options.WorkingDirectory))).ToList()
            ?? sources.Where(s => !disabled.Contains(s.Name)).ToList();
        var global = options.GlobalPackagesFolder
            ?? (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env ? env : null)
            ?? globalFromConfig
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return new NuGetFeeds(enabled, global, files);
    }

    private static string Resolve(string value, string baseDir)
    {
        value = Environment.ExpandEnvironmentVariables(value);
        if (value.Contains("://", StringComparison.Ordinal)) return value;
        return Path.GetFullPath(Path.IsPathRooted(value) ? value : Path.Combine(baseDir, value));
    }

    /// <summary>The extracted package folder in the global packages folder (<c>&lt;id&gt;/&lt;version&gt;/</c>, lower case), when restored there.</summary>
    public string? FindInCache(string id, string version)
    {
        var dir = Path.Combine(GlobalPackagesFolder, id.ToLowerInvariant(), version.ToLowerInvariant());
        // NuGet writes the .nupkg.metadata marker last, so a folder without it is an unfinished extraction.
        return Directory.Exists(dir) && File.Exists(Path.Combine(dir, ".nupkg.metadata")) ? dir : null;
    }

    /// <summary>
    /// Fetches <c>&lt;id&gt;.&lt;version&gt;.nupkg</c> into <paramref name="destination"/> from the first source that has
    /// it (a folder feed is copied; an http feed is downloaded with resume and progress).
    /// </summary>
    /// <exception cref="ModelDownloadException">No source has the package; the message lists what was tried.</exception>
    public async Task<NuGetSource> FetchAsync(string id, string version, string destination, ModelDownloader downloader,
        IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string lid = id.ToLowerInvariant(), lver = version.ToLowerInvariant();
        var tried = new List<string>();
        foreach (var source in Sources)
        {
            if (!source.IsHttp)
            {
                var candidates = new[] { Path.Combine(source.Location, $"{id}.{version}.nupkg"), Path.Combine(source.Location, $"{lid}.{lver}.nupkg"),
                    Path.Combine(source.Location, lid, lver, $"{lid}.{lver}.nupkg") };
                if (candidates.FirstOrDefault(File.Exists) is { } found)
                {
                    File.Copy(found, destination, overwrite: true);
                    return source;
                }
                tried.Add($"{source.Name} ({source.Location}): not there");
                continue;
            }
            Uri? url;
            try
            {
                url = await PackageUrlAsync(source, lid, lver, downloader, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or ModelDownloadException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                tried.Add($"{source.Name} ({source.Location}): {e.Message}");
                continue;
            }
            if (url == null)
            {
                tried.Add($"{source.Name} ({source.Location}): not a v3 feed (no PackageBaseAddress/3.0.0 in its index)");
                continue;
            }
            try
            {
                await downloader.DownloadFileAsync(url, destination, null, null, progress, ct).ConfigureAwait(false);
                return source;
            }
            catch (ModelDownloadException e)
            {
                tried.Add($"{source.Name} ({url}): {e.Message}");
            }
        }
        var where = ConfigFiles.Count > 0 ? $"configs read: {string.Join(", ", ConfigFiles)}" : "no nuget.config was found";
        throw new ModelDownloadException($"NuGet package {id} {version} is neither in the global packages folder {GlobalPackagesFolder} nor on any feed "
            + $"({(tried.Count > 0 ? string.Join("; ", tried) : "no package sources are configured")}; {where}). Add a feed that serves it to nuget.config, "
            + $"or restore it once (dotnet restore with a PackageDownload of {id} {version}).", new Uri("nuget:" + id));
    }

    // v3 service index → PackageBaseAddress/3.0.0 → <base>/<id>/<version>/<id>.<version>.nupkg (lower case, as the protocol says).
    private static async Task<Uri?> PackageUrlAsync(NuGetSource source, string lid, string lver, ModelDownloader downloader, CancellationToken ct)
    {
        using var doc = JsonDocument.Parse(await downloader.GetStringAsync(new Uri(source.Location), ct).ConfigureAwait(false));
        if (!doc.RootElement.TryGetProperty("resources", out var resources) || resources.ValueKind != JsonValueKind.Array) return null;
        foreach (var r in resources.EnumerateArray())
        {
            if (r.TryGetProperty("@type", out var t) && t.GetString() is { } type && type.StartsWith("PackageBaseAddress/3.0.0", StringComparison.Ordinal)
                && r.TryGetProperty("@id", out var idEl) && idEl.GetString() is { } baseUrl)
                return new Uri($"{baseUrl.TrimEnd('/')}/{lid}/{lver}/{lid}.{lver}.nupkg");
        }
        return null;
    }
}
