using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RagTune.TestKit.Http;

/// <summary>
/// A tiny HTTP/1.1 server on 127.0.0.1 and a free port, for tests: one request per connection
/// (<c>Connection: close</c>), every request recorded, the handler writes the raw response and may drop the
/// connection midway. Enough HTTP for the OpenAI client and the model downloader; nothing else.
/// </summary>
internal sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<HttpRequest, HttpResponseWriter, Task> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly ConcurrentBag<Task> _connections = [];

    public LoopbackHttpServer(Func<HttpRequest, HttpResponseWriter, Task> handler)
    {
        _handler = handler;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoop();
    }

    public int Port { get; }

    /// <summary><c>http://127.0.0.1:port</c>, no trailing slash.</summary>
    public string Root => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<HttpRequest> Requests { get; } = new();

    /// <summary>A port on which nothing listens (bound, then released), for "connection refused" tests.</summary>
    public static int UnusedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            _connections.Add(Task.Run(() => Serve(socket)));
        }
    }

    private async Task Serve(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            var request = await HttpRequest.ReadAsync(stream, _stop.Token);
            if (request == null) return;
            Requests.Enqueue(request);
            var writer = new HttpResponseWriter(stream, socket);
            await _handler(request, writer);
            await stream.FlushAsync();
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception) when (_stop.IsCancellationRequested || !socket.Connected)
        {
        }
        catch (IOException)
        {
            // The client went away (cancelled a stream); nothing to do.
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _acceptLoop; } catch (Exception) { }
        try { await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
        _stop.Dispose();
    }
}

internal sealed record HttpRequest(string Method, string Target, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Path => Target.Split('?')[0];

    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;

    internal static async Task<HttpRequest?> ReadAsync(Stream stream, CancellationToken ct)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, ct) == 0) return null;
            head.Add(one[0]);
            int n = head.Count;
            if (n >= 4 && head[n - 4] == '\r' && head[n - 3] == '\n' && head[n - 2] == '\r' && head[n - 1] == '\n') break;
            if (n > 65536) throw new IOException("request head too long");
        }
        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var first = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        byte[] body = [];
        if (headers.TryGetValue("Content-Length", out var len) && long.Parse(len) > 0)
        {
            body = new byte[long.Parse(len)];
            await stream.ReadExactlyAsync(body, ct);
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var ms = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLine(stream, ct);
                int size = Convert.ToInt32(sizeLine.Split(';')[0].Trim(), 16);
                if (size == 0) { await ReadLine(stream, ct); break; }
                var chunk = new byte[size];
                await stream.ReadExactlyAsync(chunk, ct);
                ms.Write(chunk);
                await ReadLine(stream, ct);
            }
            body = ms.ToArray();
        }
        return new HttpRequest(first[0], first[1], headers, body);
    }

    private static async Task<string> ReadLine(Stream stream, CancellationToken ct)
    {
        var sb = new StringBuilder();
        var one = new byte[1];
        while (await stream.ReadAsync(one, ct) > 0)
        {
            if (one[0] == '\n') break;
            if (one[0] != '\r') sb.Append((char)one[0]);
        }
        return sb.ToString();
    }
}

/// <summary>Writes one raw HTTP/1.1 response; <see cref="Abort"/> drops the connection with a reset.</summary>
internal sealed class HttpResponseWriter(Stream stream, Socket socket)
{
    public Stream Body => stream;

    public async Task HeadAsync(int status, string? contentType = null, long? contentLength = null, params (string Name, string Value)[] headers)
    {
        var sb = new StringBuilder();
        sb.Append($"HTTP/1.1 {status} {Reason(status)}\r\n");
        if (contentType != null) sb.Append($"Content-Type: {contentType}\r\n");
        if (contentLength is { } n) sb.Append($"Content-Length: {n}\r\n");
        foreach (var (name, value) in headers) sb.Append($"{name}: {value}\r\n");
        sb.Append("Connection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
        await stream.FlushAsync();
    }

    public async Task SendAsync(int status, string contentType, byte[] body, params (string Name, string Value)[] headers)
    {
        await HeadAsync(status, contentType, body.Length, headers);
        await stream.WriteAsync(body);
    }

    public Task JsonAsync(int status, string json) => SendAsync(status, "application/json", Encoding.UTF8.GetBytes(json));

    public async Task WriteAsync(string text)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text));
        await stream.FlushAsync();
    }

    /// <summary>Drops the connection at once (RST), as a crashed server or a lost network would.</summary>
    public void Abort()
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    private static string Reason(int status) => Enum.IsDefined(typeof(HttpStatusCode), status) ? ((HttpStatusCode)status).ToString() : "Status";
}
