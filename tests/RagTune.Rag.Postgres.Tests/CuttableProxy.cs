using System.Net;
using System.Net.Sockets;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>
/// A loopback TCP proxy in front of the database that can drop every connection it carries once a given number of
/// bytes have gone from client to server: a network failure in the middle of a statement, as the server sees it.
/// </summary>
internal sealed class CuttableProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly List<TcpClient> _open = [];
    private long _budget = long.MaxValue;
    private long _sent;

    public CuttableProxy(string host, int port)
    {
        _host = host;
        _port = port;
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Drops the connections once <paramref name="bytes"/> more bytes have been forwarded to the server.</summary>
    public void CutAfter(long bytes) => Interlocked.Exchange(ref _budget, Interlocked.Read(ref _sent) + bytes);

    /// <summary>True once the cut has happened.</summary>
    public bool Cut { get; private set; }

    private async Task AcceptAsync()
    {
        while (true)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(); }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { return; }
            var server = new TcpClient();
            await server.ConnectAsync(_host, _port);
            lock (_open) { _open.Add(client); _open.Add(server); }
            _ = PumpAsync(client.GetStream(), server.GetStream(), counted: true);
            _ = PumpAsync(server.GetStream(), client.GetStream(), counted: false);
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool counted)
    {
        var buffer = new byte[8192];
        try
        {
            while (true)
            {
                int n = await from.ReadAsync(buffer);
                if (n == 0) break;
                if (counted)
                {
                    long left = Interlocked.Read(ref _budget) - Interlocked.Read(ref _sent);
                    if (left < n)
                    {
                        if (left > 0) await to.WriteAsync(buffer.AsMemory(0, (int)left)); // half a message reaches the server
                        DropAll();
                        return;
                    }
                    Interlocked.Add(ref _sent, n);
                }
                await to.WriteAsync(buffer.AsMemory(0, n));
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        DropAll();
    }

    private void DropAll()
    {
        Cut = true;
        lock (_open)
        {
            foreach (var c in _open)
            {
                try { c.Client.LingerState = new LingerOption(true, 0); c.Close(); } catch (ObjectDisposedException) { } catch (SocketException) { }
            }
            _open.Clear();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        DropAll();
    }
}
