using System.Collections.Concurrent;
using System.Net.Http.Headers;

namespace RagTune.TestKit.Http;

/// <summary>
/// Serves byte arrays at paths over loopback HTTP, with Range support (206) that can be switched off (200 only),
/// a connection drop after a number of bytes, an optional bearer token and a per-chunk delay.
/// </summary>
internal sealed class FakeFileServer : IAsyncDisposable
{
    private readonly LoopbackHttpServer _http;
    private int _drops;

    public FakeFileServer()
    {
        _http = new LoopbackHttpServer(Handle);
    }

    public string Root => _http.Root;

    public ConcurrentDictionary<string, byte[]> Files { get; } = new();

    public bool SupportsRange { get; set; } = true;

    /// <summary>Drops the connection after this many body bytes, for the next <see cref="DropCount"/> responses.</summary>
    public long DropAfter { get; set; } = -1;

    public int DropCount { get; set; } = 1;

    public string? RequiredToken { get; set; }

    public TimeSpan ChunkDelay { get; set; }

    public IReadOnlyList<HttpRequest> Requests => [.. _http.Requests];

    public static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private async Task Handle(HttpRequest req, HttpResponseWriter res)
    {
        if (RequiredToken != null && req.Header("Authorization") != $"Bearer {RequiredToken}")
        {
            await res.SendAsync(401, "text/plain", "Invalid credentials"u8.ToArray());
            return;
        }
        if (!Files.TryGetValue(Uri.UnescapeDataString(req.Path), out var data))
        {
            await res.SendAsync(404, "text/plain", "Entry not found"u8.ToArray());
            return;
        }
        long start = 0;
        int status = 200;
        var headers = new List<(string, string)> { ("Accept-Ranges", SupportsRange ? "bytes" : "none") };
        if (SupportsRange && req.Header("Range") is { } rangeText && RangeHeaderValue.TryParse(rangeText, out var range))
        {
            start = range.Ranges.First().From ?? 0;
            if (start >= data.Length)
            {
                await res.SendAsync(416, "text/plain", [], ("Content-Range", $"bytes */{data.Length}"));
                return;
            }
            status = 206;
            headers.Add(("Content-Range", $"bytes {start}-{data.Length - 1}/{data.Length}"));
        }
        await res.HeadAsync(status, "application/octet-stream", data.Length - start, [.. headers]);
        bool drop = DropAfter >= 0 && Interlocked.Increment(ref _drops) <= DropCount;
        long end = drop ? Math.Min(data.Length, start + DropAfter) : data.Length;
        for (long pos = start; pos < end;)
        {
            int n = (int)Math.Min(16384, end - pos);
            await res.Body.WriteAsync(data.AsMemory((int)pos, n));
            pos += n;
            if (ChunkDelay > TimeSpan.Zero) { await res.Body.FlushAsync(); await Task.Delay(ChunkDelay); }
        }
        await res.Body.FlushAsync();
        if (drop) res.Abort();
    }

    public ValueTask DisposeAsync() => _http.DisposeAsync();
}
