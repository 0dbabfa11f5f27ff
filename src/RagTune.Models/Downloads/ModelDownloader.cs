using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using RagTune.Models.Catalog;

namespace RagTune.Models.Downloads;

/// <summary>
/// Fetches model files into the cache (<see cref="ModelDownloaderOptions.ModelsDir"/>). Each file is written to
/// <c>&lt;file&gt;.partial</c>, resumed with an HTTP Range request after an interruption, checked against its size and
/// sha256 when the catalog knows them, and renamed into place only when complete, so a half-downloaded file is
/// never at the final path. A lock file beside it makes a second pull of the same file wait and then reuse it.
/// </summary>
public sealed class ModelDownloader : IDisposable
{
    private const int BufferSize = 1 << 20;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>A downloader with <paramref name="options"/> (validated; null for the defaults), over <paramref name="handler"/> when given (tests), else its own HTTP handler.</summary>
    public ModelDownloader(ModelDownloaderOptions? options = null, HttpMessageHandler? handler = null)
    {
        Options = options ?? new ModelDownloaderOptions();
        Options.Validate();
        _ownsHttp = true;
        _http = new HttpClient(handler ?? new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30), AllowAutoRedirect = true }, disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("ragtune/0.1");
    }

    /// <summary>The settings it was created with.</summary>
    public ModelDownloaderOptions Options { get; }

    /// <summary><c>&lt;hub&gt;/&lt;repo&gt;/resolve/&lt;revision&gt;/&lt;path&gt;</c>, the Hugging Face download URL of one file.</summary>
    public Uri HubFileUrl(string repo, string revision, string path)
    {
        var root = Options.HubUrl.AbsoluteUri.TrimEnd('/');
        var file = string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{root}/{repo}/resolve/{Uri.EscapeDataString(revision)}/{file}");
    }

    /// <summary>Downloads one variant of a catalog model (default variant when <paramref name="variant"/> is null).</summary>
    public Task<CachedModel> PullAsync(CatalogEntry entry, string? variant = null, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var v = entry.Variant(variant);
        var files = v.Files.Select(f => new FileToFetch(HubFileUrl(entry.Repo, entry.Revision, f.Path), f.Path, f.Size, f.Sha256)).ToList();
        return PullFilesAsync(entry.Name, v.Type.ToLowerInvariant(), entry.Repo, entry.Revision, v.PrimaryFile, files, progress, cancellationToken);
    }

    /// <summary>Downloads one file of any Hugging Face repository (<c>ragtune model pull owner/repo:file.gguf</c>).</summary>
    public Task<CachedModel> PullHubFileAsync(string repo, string file, string revision = "main", IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!ModelCatalog.IsSafeRelativePath(file)) throw new ArgumentException($"'{file}' is not a file path inside the repository.", nameof(file));
        var (name, variant) = CacheNames.ForHubFile(repo, file);
        var files = new List<FileToFetch> { new(HubFileUrl(repo, revision, file), file, null, null) };
        return PullFilesAsync(name, variant, repo, revision, file, files, progress, cancellationToken);
    }

    /// <summary>Downloads a file from any http(s) URL (<c>ragtune model pull https://…/model.gguf</c>).</summary>
    public Task<CachedModel> PullUrlAsync(Uri url, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        var fileName = Uri.UnescapeDataString(url.Segments[^1]).Trim('/');
        if (!ModelCatalog.IsSafeRelativePath(fileName)) throw new ArgumentException($"URL '{url}' does not end in a file name.", nameof(url));
        var (name, variant) = CacheNames.ForUrl(url);
        var files = new List<FileToFetch> { new(url, fileName, null, null) };
        return PullFilesAsync(name, variant, url.AbsoluteUri, "", fileName, files, progress, cancellationToken);
    }

    private async Task<CachedModel> PullFilesAsync(string name, string variant, string source, string revision, string? primary,
        List<FileToFetch> files, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var dir = Path.Combine(Options.ModelsDir, name, variant);
        if (CachedModel.TryLoad(dir) is { } cached && cached.Files.All(f => File.Exists(Path.Combine(dir, f.Path))))
            return cached;
        Directory.CreateDirectory(dir);
        var done = new List<CachedFile>();
        foreach (var f in files)
            done.Add(await DownloadFileAsync(f.Url, Path.Combine(dir, f.Path), f.Size, f.Sha256, progress, ct).ConfigureAwait(false) with { Path = f.Path });
        var model = new CachedModel(name, variant, source, revision, primary, done) { Directory = dir };
        model.Save();
        return model;
    }

    /// <summary>
    /// Downloads <paramref name="url"/> to <paramref name="destination"/> (resuming a <c>.partial</c>), verifies it and
    /// renames it into place. Returns the file's size and sha256.
    /// </summary>
    public async Task<CachedFile> DownloadFileAsync(Uri url, string destination, long? expectedSize = null, string? expectedSha256 = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        await using var fileLock = await AcquireLockAsync(destination + ".lock", url, cancellationToken).ConfigureAwait(false);

        // Another pull may have finished this file while we waited for the lock.
        if (File.Exists(destination))
        {
            var (existing, _) = await Verify(destination, expectedSize, expectedSha256, cancellationToken).ConfigureAwait(false);
            if (existing != null) return existing;
            File.Delete(destination);
        }

        var partial = destination + ".partial";
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await FetchAsync(url, partial, expectedSize, progress, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (InterruptedDownload e) when (attempt < Options.MaxAttempts)
            {
                _ = e; // resumed by the next attempt from what the partial file holds
            }
            catch (InterruptedDownload e)
            {
                throw new ModelDownloadException($"download of {url} was interrupted after {e.Have:N0}{(e.Total is { } t ? $" of {t:N0}" : "")} bytes "
                    + $"({e.Reason}); run the same command again to resume from {partial}.", url, null, e.InnerException);
            }
        }

        var (verified, mismatch) = await Verify(partial, expectedSize, expectedSha256, cancellationToken).ConfigureAwait(false);
        if (verified == null)
        {
            File.Delete(partial);
            throw new ModelDownloadException($"{url}: the downloaded file does not match the catalog ({mismatch}); "
                + "the partial download was deleted. Pull again; if it persists the catalog entry is out of date.", url);
        }
        File.Move(partial, destination, overwrite: true);
        return verified;
    }

    /// <summary>The file's size and sha256 when they match what is expected, else null.</summary>
    private static async Task<(CachedFile? File, string Mismatch)> Verify(string path, long? size, string? sha256, CancellationToken ct)
    {
        var length = new FileInfo(path).Length;
        if (size is { } n && length != n)
            return (null, $"size {length:N0} bytes, expected {n:N0}");
        string actual;
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan))
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
        if (sha256 != null && !string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
            return (null, $"sha256 {actual}, expected {sha256}");
        return (new CachedFile(Path.GetFileName(path), length, actual), "");
    }

    private async Task FetchAsync(Uri url, string partial, long? expectedSize, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (expectedSize is { } limit && have > limit)
        {
            File.Delete(partial);
            have = 0;
        }
        if (expectedSize is { } m && have == m && have > 0) return;

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        if (Options.Token != null && string.Equals(url.Host, Options.HubUrl.Host, StringComparison.OrdinalIgnoreCase) && url.Port == Options.HubUrl.Port)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Options.Token);

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(url, e);
        }
        using (response)
        {
            long? total;
            switch (response.StatusCode)
            {
                case HttpStatusCode.PartialContent:
                    var range = response.Content.Headers.ContentRange;
                    if (range?.From != have)
                    {
                        File.Delete(partial);
                        throw new InterruptedDownload(0, null, $"the server resumed at byte {range?.From} instead of {have}");
                    }
                    total = range.Length;
                    break;
                case HttpStatusCode.OK:
                    // A server without Range support sends the whole file: start over.
                    have = 0;
                    total = response.Content.Headers.ContentLength;
                    break;
                case HttpStatusCode.RequestedRangeNotSatisfiable:
                    File.Delete(partial);
                    throw new InterruptedDownload(0, null, "the server refused to resume (416); starting over");
                case HttpStatusCode.NotFound:
                    throw new ModelDownloadException($"{url} was not found (404): check the repository, file name and revision"
                        + (Options.Token == null ? "; a private repository also answers 404 without HF_TOKEN." : "."), url, 404);
                case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                    throw new ModelDownloadException($"{url} needs access ({(int)response.StatusCode} {response.StatusCode}): "
                        + (Options.Token == null
                            ? $"set {ModelDownloaderOptions.TokenVariable} to a Hugging Face token, and accept the model's licence on its page if it is gated."
                            : $"the token in {ModelDownloaderOptions.TokenVariable} was refused; check it, and accept the model's licence on its page if it is gated."),
                        url, (int)response.StatusCode);
                default:
                    throw new ModelDownloadException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}.", url, (int)response.StatusCode);
            }

            var file = Path.GetFileName(partial[..^".partial".Length]);
            var clock = Stopwatch.StartNew();
            long session = 0;
            TimeSpan? lastReport = null;
            void Report(bool completed)
            {
                double rate = clock.Elapsed.TotalSeconds > 0 ? session / clock.Elapsed.TotalSeconds : 0;
                long? size = total ?? expectedSize;
                TimeSpan? eta = size is { } s && rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, s - have) / rate) : null;
                progress!.Report(new DownloadProgress(file, have, size, rate, completed ? TimeSpan.Zero : eta, completed));
            }

            await using var output = new FileStream(partial, have > 0 ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
            var buffer = new byte[BufferSize];
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                while (true)
                {
                    using var read = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    read.CancelAfter(Options.ReadTimeout);
                    int n;
                    try
                    {
                        n = await body.ReadAsync(buffer, read.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        throw new IOException($"no data for {Options.ReadTimeout.TotalSeconds:F0} s");
                    }
                    if (n == 0) break;
                    await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    have += n;
                    session += n;
                    if (progress != null && (lastReport is null || clock.Elapsed - lastReport.Value >= Options.ProgressInterval))
                    {
                        lastReport = clock.Elapsed;
                        Report(false);
                    }
                }
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
            {
                await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                throw new InterruptedDownload(have, total, Innermost(e).Message, e);
            }
            await output.FlushAsync(ct).ConfigureAwait(false);
            if (total is { } t && have < t)
                throw new InterruptedDownload(have, total, "the connection closed early");
            if (progress != null) Report(true);
        }
    }

    private async Task<FileStream> AcquireLockAsync(string lockPath, Uri url, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive flock on Unix and a share lock on Windows: it excludes other
                // processes and other pulls in this one. The file stays behind (deleting it would race).
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.Asynchronous);
            }
            catch (IOException) when (clock.Elapsed < Options.LockTimeout)
            {
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new ModelDownloadException($"another pull has held {lockPath} for {Options.LockTimeout.TotalMinutes:F0} minutes; "
                    + "if no other ragtune is running, delete the lock file and pull again.", url, null, e);
            }
        }
    }

    /// <summary>A small document (a NuGet feed's service index) as text; failures become <see cref="ModelDownloadException"/>.</summary>
    public async Task<string> GetStringAsync(Uri url, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        try
        {
            using var response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw new ModelDownloadException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}.", url, (int)response.StatusCode);
            return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(url, e);
        }
    }

    private static ModelDownloadException Unreachable(Uri url, HttpRequestException e)
    {
        bool refused = e.HttpRequestError == HttpRequestError.ConnectionError
            || e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused };
        bool dns = e.HttpRequestError == HttpRequestError.NameResolutionError;
        var why = dns ? "the host name does not resolve (offline?)" : refused ? "the connection was refused (offline, or the server is down?)" : Innermost(e).Message;
        return new ModelDownloadException($"cannot reach {url.GetLeftPart(UriPartial.Authority)} to download {url}: {why}. "
            + "Check the network; files already downloaded stay in the cache.", url, null, e);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException != null) e = e.InnerException;
        return e;
    }

    /// <summary>Disposes the HTTP client it owns.</summary>
    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    private sealed record FileToFetch(Uri Url, string Path, long? Size, string? Sha256);

    /// <summary>A transfer stopped midway; the partial file keeps what arrived and the next attempt resumes from it.</summary>
    private sealed class InterruptedDownload(long have, long? total, string reason, Exception? inner = null) : Exception(reason, inner)
    {
        public long Have { get; } = have;

        public long? Total { get; } = total;

        public string Reason { get; } = reason;
    }
}
