using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RagTune.TestKit.Http;

/// <summary>
/// A minimal OpenAI-compatible server on loopback: <c>/v1/chat/completions</c> (JSON, or SSE when
/// <c>"stream": true</c>), <c>/v1/embeddings</c> and <c>/v1/models</c>, in the wire format of the OpenAI API.
/// Records what the client sent.
/// </summary>
internal sealed class FakeOpenAIServer : IAsyncDisposable
{
    private readonly LoopbackHttpServer _http;

    public FakeOpenAIServer()
    {
        _http = new LoopbackHttpServer(Handle);
    }

    public Uri BaseUrl => new($"{_http.Root}/v1");

    /// <summary>Models the server knows; requests for others get 404 like vLLM does.</summary>
    public HashSet<string> Models { get; } = ["tiny-chat", "tiny-embed"];

    /// <summary>When set, requests without <c>Authorization: Bearer &lt;key&gt;</c> get 401.</summary>
    public string? RequiredKey { get; set; }

    /// <summary>The pieces streamed (and concatenated for non-streaming replies).</summary>
    public string[] ReplyPieces { get; set; } = ["Hello", ", ", "world", "!"];

    public string FinishReason { get; set; } = "stop";

    public int EmbeddingDimensions { get; set; } = 4;

    /// <summary>Delay between streamed chunks, to test cancellation mid-stream.</summary>
    public TimeSpan ChunkDelay { get; set; } = TimeSpan.Zero;

    public IEnumerable<HttpRequest> Requests => _http.Requests;

    public IEnumerable<JsonObject> Bodies(string path) =>
        _http.Requests.Where(r => r.Path == path).Select(r => JsonNode.Parse(r.BodyText)!.AsObject());

    private async Task Handle(HttpRequest req, HttpResponseWriter res)
    {
        if (RequiredKey != null && req.Header("Authorization") != $"Bearer {RequiredKey}")
        {
            await res.JsonAsync(401, """{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}""");
            return;
        }
        switch (req.Method, req.Path)
        {
            case ("GET", "/v1/models"):
                var data = new JsonArray(Models.Select(m => (JsonNode)new JsonObject { ["id"] = m, ["object"] = "model", ["created"] = 1700000000, ["owned_by"] = "ragtune-tests" }).ToArray());
                await res.JsonAsync(200, new JsonObject { ["object"] = "list", ["data"] = data }.ToJsonString());
                return;
            case ("POST", "/v1/chat/completions"):
                await Chat(JsonNode.Parse(req.BodyText)!.AsObject(), res);
                return;
            case ("POST", "/v1/embeddings"):
                await Embeddings(JsonNode.Parse(req.BodyText)!.AsObject(), res);
                return;
            default:
                await res.JsonAsync(404, """{"error":{"message":"Not Found","type":"invalid_request_error"}}""");
                return;
        }
    }

    private static async Task<bool> UnknownModel(IReadOnlySet<string> models, string model, HttpResponseWriter res)
    {
        if (models.Contains(model)) return false;
        await res.JsonAsync(404, $$$"""{"error":{"message":"The model `{{{model}}}` does not exist.","type":"NotFoundError","code":404}}""");
        return true;
    }

    private async Task Chat(JsonObject body, HttpResponseWriter res)
    {
        var model = (string)body["model"]!;
        if (await UnknownModel(Models, model, res)) return;
        int promptTokens = body["messages"]!.AsArray().Count * 3;
        int completionTokens = ReplyPieces.Length;
        if (body["stream"]?.GetValue<bool>() != true)
        {
            var json = new JsonObject
            {
                ["id"] = "chatcmpl-test1",
                ["object"] = "chat.completion",
                ["created"] = 1700000000,
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = string.Concat(ReplyPieces) },
                    ["finish_reason"] = FinishReason,
                }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = completionTokens, ["total_tokens"] = promptTokens + completionTokens },
            };
            await res.JsonAsync(200, json.ToJsonString());
            return;
        }

        await res.HeadAsync(200, "text/event-stream", null, ("Cache-Control", "no-cache"));
        JsonObject Chunk(JsonObject delta, string? finish) => new()
        {
            ["id"] = "chatcmpl-test2",
            ["object"] = "chat.completion.chunk",
            ["created"] = 1700000000,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        };
        await res.WriteAsync($"data: {Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null).ToJsonString()}\n\n");
        foreach (var piece in ReplyPieces)
        {
            if (ChunkDelay > TimeSpan.Zero) await Task.Delay(ChunkDelay);
            await res.WriteAsync($"data: {Chunk(new JsonObject { ["content"] = piece }, null).ToJsonString()}\n\n");
        }
        await res.WriteAsync($"data: {Chunk(new JsonObject(), FinishReason).ToJsonString()}\n\n");
        if (body["stream_options"]?["include_usage"]?.GetValue<bool>() == true)
        {
            var usage = new JsonObject
            {
                ["id"] = "chatcmpl-test2",
                ["object"] = "chat.completion.chunk",
                ["created"] = 1700000000,
                ["model"] = model,
                ["choices"] = new JsonArray(),
                ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = completionTokens, ["total_tokens"] = promptTokens + completionTokens },
            };
            await res.WriteAsync($"data: {usage.ToJsonString()}\n\n");
        }
        await res.WriteAsync("data: [DONE]\n\n");
    }

    private async Task Embeddings(JsonObject body, HttpResponseWriter res)
    {
        var model = (string)body["model"]!;
        if (await UnknownModel(Models, model, res)) return;
        var input = body["input"]!;
        var texts = input is JsonArray a ? a.Select(n => (string)n!).ToList() : [(string)input!];
        int dims = body["dimensions"]?.GetValue<int>() ?? EmbeddingDimensions;
        bool base64 = (string?)body["encoding_format"] == "base64";
        var data = new JsonArray();
        // Answered in reverse order on purpose: clients must sort by "index".
        for (int i = texts.Count - 1; i >= 0; i--)
        {
            var v = Vector(texts[i], dims);
            JsonNode embedding = base64
                ? Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()))
                : new JsonArray(v.Select(x => (JsonNode)x).ToArray());
            data.Add(new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = embedding });
        }
        int tokens = texts.Sum(t => t.Split(' ').Length);
        var json = new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["model"] = model,
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        };
        await res.JsonAsync(200, json.ToJsonString());
    }

    /// <summary>The deterministic vector the server returns for a text: [length, first char, 1, 2, …].</summary>
    public static float[] Vector(string text, int dims)
    {
        var v = new float[dims];
        for (int i = 0; i < dims; i++)
            v[i] = i switch { 0 => text.Length, 1 => text.Length > 0 ? text[0] : 0, _ => i - 1 };
        return v;
    }

    public ValueTask DisposeAsync() => _http.DisposeAsync();
}
