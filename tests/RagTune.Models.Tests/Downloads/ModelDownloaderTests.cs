using RagTune.TestKit.Http;
using System.Security.Cryptography;
using RagTune.Models.Catalog;
using RagTune.Models.Downloads;
using RagTune.Models.Tests.Remote;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Downloads;

public sealed class ModelDownloaderTests
{
    private const string Repo = "test-owner/tiny-GGUF";
    private const string FileName = "tiny-Q8_0.gguf";
    private static readonly byte[] Payload = FakeFileServer.RandomBytes(300_000, 7);

    private static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    private static CatalogEntry Entry(long? size, string? sha) => new("tiny-chat", ModelKind.Chat, Repo, "main", "gguf", "MIT", 1000, 512, "chatml",
        "tests", "q8_0", null, [new CatalogVariant("q8_0", "supported", "0.1.0", [new CatalogFile(FileName, size, sha, size)])]);

    private static ModelDownloader Downloader(string dir, FakeFileServer server, int attempts = 3, string? token = null) => new(new ModelDownloaderOptions
    {
        ModelsDir = dir,
        HubUrl = new Uri(server.Root),
        Token = token,
        MaxAttempts = attempts,
        ReadTimeout = TimeSpan.FromSeconds(20),
        ProgressInterval = TimeSpan.Zero,
    });

    private static FakeFileServer Server()
    {
        var s = new FakeFileServer();
        s.Files[$"/{Repo}/resolve/main/{FileName}"] = Payload;
        return s;
    }

    private sealed class ListProgress : IProgress<DownloadProgress>
    {
        public List<DownloadProgress> Reports { get; } = [];

        public void Report(DownloadProgress value)
        {
            lock (Reports) Reports.Add(value);
        }
    }

    [Fact]
    public async Task Pulls_a_catalog_model_verifies_it_and_writes_the_manifest()
    {
        using var tmp = new TempDir();
        await using var server = Server();
        using var d = Downloader(tmp.Path, server);
        var progress = new ListProgress();

        var model = await d.PullAsync(Entry(Payload.Length, Sha(Payload)), progress: progress);

        var path = Path.Combine(tmp.Path, "tiny-chat", "q8_0", FileName);
        Assert.Equal(path, model.Path);
        Assert.Equal(Payload, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + ".partial"));
        Assert.Equal(Sha(Payload), model.Files[0].Sha256);
        var reloaded = CachedModel.TryLoad(Path.GetDirectoryName(path)!)!;
        Assert.Equal(("tiny-chat", "q8_0", Repo, FileName), (reloaded.Name, reloaded.Variant, reloaded.Source, reloaded.Primary));
        var last = progress.Reports[^1];
        Assert.True(last.Completed);
        Assert.Equal(Payload.Length, last.BytesDone);
        Assert.Equal(Payload.Length, last.TotalBytes);
        Assert.All(progress.Reports, p => Assert.Equal(FileName, p.File));

        // A second pull is served from the cache without a request.
        int before = server.Requests.Count;
        await d.PullAsync(Entry(Payload.Length, Sha(Payload)));
        Assert.Equal(before, server.Requests.Count);
    }

    [Fact]
    public async Task An_interrupted_download_keeps_its_partial_and_resumes_with_a_range_request()
    {
        using var tmp = new TempDir();
        await using var server = Server();
        server.DropAfter = 100_000;
        var path = Path.Combine(tmp.Path, "tiny-chat", "q8_0", FileName);

        using (var once = Downloader(tmp.Path, server, attempts: 1))
        {
            var e = await Assert.ThrowsAsync<ModelDownloadException>(() => once.PullAsync(Entry(Payload.Length, Sha(Payload))));
            Assert.Contains("interrupted after", e.Message);
            Assert.Contains("run the same command again to resume", e.Message);
        }
        Assert.False(File.Exists(path));
        long kept = new FileInfo(path + ".partial").Length;
        Assert.InRange(kept, 1, Payload.Length - 1);

        using var again = Downloader(tmp.Path, server);
        await again.PullAsync(Entry(Payload.Length, Sha(Payload)));

        Assert.Equal(Payload, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + ".partial"));
        var requests = server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Null(requests[0].Header("Range"));
        Assert.Equal($"bytes={kept}-", requests[1].Header("Range"));
    }

    [Fact]
    public async Task Retries_resume_within_one_pull_and_a_server_without_ranges_restarts_cleanly()
    {
        using var tmp = new TempDir();
        await using var server = Server();
        server.DropAfter = 50_000;
        server.DropCount = 2;
        using var d = Downloader(tmp.Path, server);
        var model = await d.PullAsync(Entry(null, null));
        Assert.Equal(Payload, File.ReadAllBytes(model.Path));
        Assert.Equal(3, server.Requests.Count);
        Assert.NotNull(server.Requests[2].Header("Range"));

        using var tmp2 = new TempDir();
        await using var noRange = Server();
        noRange.SupportsRange = false;
        noRange.DropAfter = 70_000;
        using var d2 = Downloader(tmp2.Path, noRange);
        var m2 = await d2.PullAsync(Entry(Payload.Length, Sha(Payload)));
        Assert.Equal(Payload, File.ReadAllBytes(m2.Path));
    }

    [Fact]
    public async Task A_sha256_mismatch_is_rejected_and_the_partial_removed()
    {
        using var tmp = new TempDir();
        await using var server = Server();
        using var d = Downloader(tmp.Path, server);
        var wrong = new string('0', 64);
        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => d.PullAsync(Entry(Payload.Length, wrong)));
        Assert.Contains("does not match", e.Message);
        Assert.Contains(wrong, e.Message);
        Assert.Contains(Sha(Payload), e.Message);
        var dir = Path.Combine(tmp.Path, "tiny-chat", "q8_0");
        Assert.False(File.Exists(Path.Combine(dir, FileName)));
        Assert.False(File.Exists(Path.Combine(dir, FileName + ".partial")));
        Assert.Null(CachedModel.TryLoad(dir));

        var sizeErr = await Assert.ThrowsAsync<ModelDownloadException>(() => d.PullAsync(Entry(Payload.Length + 1, null)));
        Assert.Contains("expected", sizeErr.Message);
    }

    [Fact]
    public async Task Not_found_unauthorized_and_refused_say_what_to_do()
    {
        using var tmp = new TempDir();
        await using var server = Server();
        using var d = Downloader(tmp.Path, server);
        var missing = await Assert.ThrowsAsync<ModelDownloadException>(() => d.PullHubFileAsync(Repo, "nope.gguf"));
        Assert.Equal(404, missing.StatusCode);
        Assert.Contains("not found (404)", missing.Message);
        Assert.Contains("nope.gguf", missing.Message);

        server.RequiredToken = "hf_secret";
        var denied = await Assert.ThrowsAsync<ModelDownloadException>(() => d.PullAsync(Entry(null, null)));
        Assert.Equal(401, denied.StatusCode);
        Assert.Contains("HF_TOKEN", denied.Message);

        using var withToken = Downloader(tmp.Path, server, token: "hf_secret");
        var model = await withToken.PullAsync(Entry(null, null));
        Assert.Equal(Payload, File.ReadAllBytes(model.Path));
        Assert.Equal("Bearer hf_secret", server.Requests[^1].Header("Authorization"));

        using var offline = new ModelDownloader(new ModelDownloaderOptions { ModelsDir = tmp.Path, HubUrl = new Uri($"http://127.0.0.1:{LoopbackHttpServer.UnusedPort()}") });
        var refused = await Assert.ThrowsAsync<ModelDownloadException>(() => offline.PullHubFileAsync(Repo, FileName));
        Assert.Contains("cannot reach", refused.Message);
        Assert.Contains("refused", refused.Message);
    }

    [Fact]
    public async Task Two_concurrent_pulls_of_one_model_end_with_one_correct_file()
    {
        using var tmp = new TempDir();
        await using var server = Server();
        server.ChunkDelay = TimeSpan.FromMilliseconds(10);
        using var a = Downloader(tmp.Path, server);
        using var b = Downloader(tmp.Path, server);
        var entry = Entry(Payload.Length, Sha(Payload));

        var results = await Task.WhenAll(a.PullAsync(entry), b.PullAsync(entry));

        Assert.Equal(results[0].Path, results[1].Path);
        Assert.Equal(Payload, File.ReadAllBytes(results[0].Path));
        Assert.False(File.Exists(results[0].Path + ".partial"));
        // The second waited on the lock and reused the file: the body was sent once.
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Pulls_from_a_plain_url_and_a_hub_file()
    {
        using var tmp = new TempDir();
        await using var server = Server();
        server.Files["/downloads/Other-Model.gguf"] = Payload;
        using var d = Downloader(tmp.Path, server);
        var byUrl = await d.PullUrlAsync(new Uri($"{server.Root}/downloads/Other-Model.gguf"));
        Assert.Equal(Path.Combine(tmp.Path, "other-model", "url", "Other-Model.gguf"), byUrl.Path);
        var byRepo = await d.PullHubFileAsync(Repo, FileName);
        Assert.Equal(Path.Combine(tmp.Path, "test-owner--tiny-gguf", "tiny-q8_0", FileName), byRepo.Path);
        Assert.Equal(Payload, File.ReadAllBytes(byRepo.Path));
    }

    [Fact]
    public void Hub_urls_follow_the_resolve_layout()
    {
        using var d = new ModelDownloader(new ModelDownloaderOptions { ModelsDir = "/tmp/x", HubUrl = new Uri("https://huggingface.co") });
        Assert.Equal("https://huggingface.co/BAAI/bge-small-en-v1.5/resolve/main/1_Pooling/config.json",
            d.HubFileUrl("BAAI/bge-small-en-v1.5", "main", "1_Pooling/config.json").AbsoluteUri);
    }
}
