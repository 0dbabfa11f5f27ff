using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RagTune.Server.Tests.Api;

/// <summary>
/// Clients that attack the transport rather than the API, over raw sockets so nothing in HttpClient smooths them:
/// header bombs, JSON nesting bombs, oversized bodies, slowloris-style connections that never finish their headers
/// and bodies trickled a byte at a time. Each is refused or dropped, and the server keeps answering everyone else.
/// Bounded: a few dozen connections and under 20 s.
/// </summary>
public sealed class HostileClientTests
{
    private static (string Host, int Port) Endpoint(ApiServer api)
    {
        var uri = new Uri(api.Server.BaseUrl);
        return (uri.Host, uri.Port);
    }

    /// <summary>Sends <paramref name="request"/> raw and returns the status line's code (0 when the server closed without one).</summary>
    private static async Task<int> RawAsync(ApiServer api, byte[] request)
    {
        var (host, port) = Endpoint(api);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(request);
        }
        catch (IOException)
        {
            // The server may close while a bomb is still being sent; its reply (if any) is read below.
        }
        var buffer = new byte[4096];
        int read;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            read = await stream.ReadAsync(buffer, cts.Token);
        }
        catch (IOException)
        {
            return 0;
        }
        var text = Encoding.ASCII.GetString(buffer, 0, read);
        return text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    private static async Task StillServes(ApiServer api)
    {
        var sw = Stopwatch.StartNew();
        var models = await api.Http.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"/v1/models took {sw.Elapsed}");
    }

    [Fact]
    public async Task A_header_bomb_gets_431_and_the_server_keeps_serving()
    {
        await using var api = await ApiServer.StartAsync();
        var headers = new StringBuilder("GET /v1/models HTTP/1.1\r\nHost: localhost\r\n");
        for (int i = 0; i < 2000; i++) headers.Append("X-Bomb-").Append(i).Append(": ").Append('a', 50).Append("\r\n"); // ~120 KB
        headers.Append("\r\n");
        Assert.Equal(431, await RawAsync(api, Encoding.ASCII.GetBytes(headers.ToString())));
        var oneHuge = $"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nX-Huge: {new string('b', 200_000)}\r\n\r\n";
        Assert.Equal(431, await RawAsync(api, Encoding.ASCII.GetBytes(oneHuge)));
        await StillServes(api);
    }

    [Fact]
    public async Task A_json_nesting_bomb_is_a_400_in_openai_shape_not_a_crash()
    {
        await using var api = await ApiServer.StartAsync();
        var bomb = "{\"model\": \"stories260K\", \"messages\": " + new string('[', 100_000) + new string(']', 100_000) + "}";
        var response = await api.Http.PostAsync("/v1/chat/completions", new StringContent(bomb, Encoding.UTF8, "application/json"));
        var error = await api.JsonAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_request_error", error.GetProperty("error").GetProperty("type").GetString());
        var api2 = await api.Http.PostAsync("/api/collections", new StringContent(new string('[', 50_000), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, api2.StatusCode);
        await StillServes(api);
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413_before_it_is_read_whole()
    {
        await using var api = await ApiServer.StartAsync(("Server:MaxRequestBodyBytes", "65536"));
        // Declared too large: refused on the Content-Length alone.
        var declared = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{";
        Assert.Equal(413, await RawAsync(api, Encoding.ASCII.GetBytes(declared)));
        // Chunked, with no length: refused once the limit is crossed.
        var chunk = new string(' ', 70_000);
        var chunked = $"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{chunk.Length:x}\r\n{chunk}\r\n0\r\n\r\n";
        Assert.Equal(413, await RawAsync(api, Encoding.ASCII.GetBytes(chunked)));
        await StillServes(api);
    }

    [Fact]
    public async Task Slowloris_connections_do_not_starve_other_clients()
    {
        await using var api = await ApiServer.StartAsync();
        var (host, port) = Endpoint(api);
        // More half-open requests than the server's concurrency limit (4) and queue (16) together.
        var slow = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 32; i++)
            {
                var tcp = new TcpClient();
                await tcp.ConnectAsync(host, port);
                await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Slow: "));
                slow.Add(tcp);
            }
            for (int round = 0; round < 3; round++)
            {
                foreach (var tcp in slow) await tcp.GetStream().WriteAsync("a"u8.ToArray()); // a byte at a time, never a line end
                await StillServes(api);
                await Task.Delay(300);
            }
        }
        finally
        {
            foreach (var tcp in slow) tcp.Dispose();
        }
        await StillServes(api);
    }

    [Fact]
    public async Task A_body_trickled_a_byte_at_a_time_is_dropped_by_the_minimum_data_rate()
    {
        await using var api = await ApiServer.StartAsync();
        var (host, port) = Endpoint(api);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"));
        var sw = Stopwatch.StartNew();
        var dropped = false;
        while (sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            try
            {
                await stream.WriteAsync("{"u8.ToArray());
                await Task.Delay(250);
                if (tcp.Client.Poll(0, SelectMode.SelectRead))
                {
                    dropped = true; // a reply (408) or the close: either way the server has let go
                    break;
                }
            }
            catch (IOException)
            {
                dropped = true;
                break;
            }
        }
        Assert.True(dropped, "a client sending 4 bytes/s was still connected after 15 s");
        await StillServes(api);
    }
}
