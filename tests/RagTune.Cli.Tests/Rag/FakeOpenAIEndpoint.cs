using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace RagTune.Cli.Tests.Rag;

/// <summary>
/// A hand-written OpenAI-compatible endpoint on loopback for the CLI's <c>--remote</c> and <c>--embed-remote</c>:
/// <c>/v1/embeddings</c> returns hashed bag-of-words vectors (texts sharing words are close), and
/// <c>/v1/chat/completions</c> streams <see cref="Reply"/> as server-sent events.
/// </summary>
internal sealed class FakeOpenAIEndpoint : IDisposable
{
    public const int Dimensions = 64;
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public FakeOpenAIEndpoint(string reply)
    {
        Reply = reply;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        BaseUrl = $"http://127.0.0.1:{port}/v1";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(Loop);
    }

    public string BaseUrl { get; }
    public string Reply { get; }
    public int ChatRequests { get; private set; }
    public int EmbeddingRequests { get; private set; }

    private async Task Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try { await Handle(ctx); }
            catch (Exception e) when (e is HttpListenerException or IOException) { }
        }
    }

    private async Task Handle(HttpListenerContext ctx)
    {
        using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
        var body = JsonNode.Parse(await reader.ReadToEndAsync())!.AsObject();
        var res = ctx.Response;
        if (ctx.Request.Url!.AbsolutePath.EndsWith("/embeddings", StringComparison.Ordinal))
        {
            EmbeddingRequests++;
            var input = body["input"]!;
            var texts = input is JsonArray a ? a.Select(n => (string)n!).ToList() : [(string)input!];
            bool base64 = (string?)body["encoding_format"] == "base64";
            var data = new JsonArray();
            for (int i = 0; i < texts.Count; i++)
            {
                var v = Vector(texts[i]);
                JsonNode embedding = base64
                    ? Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()))
                    : new JsonArray(v.Select(x => (JsonNode)x).ToArray());
                data.Add(new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = embedding });
            }
            var json = new JsonObject { ["object"] = "list", ["data"] = data, ["model"] = (string)body["model"]!, ["usage"] = new JsonObject { ["prompt_tokens"] = 1, ["total_tokens"] = 1 } };
            var bytes = Encoding.UTF8.GetBytes(json.ToJsonString());
            res.ContentType = "application/json";
            res.ContentLength64 = bytes.Length;
            await res.OutputStream.WriteAsync(bytes);
            res.Close();
            return;
        }
        ChatRequests++;
        res.ContentType = "text/event-stream";
        res.SendChunked = true;
        JsonObject Chunk(JsonObject delta, string? finish) => new()
        {
            ["id"] = "chatcmpl-1", ["object"] = "chat.completion.chunk", ["created"] = 1700000000, ["model"] = (string)body["model"]!,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        };
        var events = new List<string> { Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null).ToJsonString() };
        foreach (var word in Reply.Split(' ')) events.Add(Chunk(new JsonObject { ["content"] = word + " " }, null).ToJsonString());
        events.Add(Chunk(new JsonObject(), "stop").ToJsonString());
        events.Add("[DONE]");
        foreach (var e in events)
        {
            var bytes = Encoding.UTF8.GetBytes($"data: {e}\n\n");
            await res.OutputStream.WriteAsync(bytes);
            await res.OutputStream.FlushAsync();
        }
        res.Close();
    }

    /// <summary>Hashed bag of lower-cased words (a stable FNV-1a hash, not string.GetHashCode, which varies per process).</summary>
    public static float[] Vector(string text)
    {
        var v = new float[Dimensions];
        foreach (var word in text.ToLowerInvariant().Split([' ', '.', ',', '?', '\n', '#'], StringSplitOptions.RemoveEmptyEntries))
        {
            uint h = 2166136261;
            foreach (char c in word) h = (h ^ c) * 16777619;
            v[h % Dimensions] += 1;
        }
        return v;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}
