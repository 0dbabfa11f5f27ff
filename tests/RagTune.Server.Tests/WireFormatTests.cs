using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace RagTune.Server.Tests;

/// <summary>Raw HTTP checks of the JSON and SSE shapes, the errors and the limits.</summary>
public sealed class WireFormatTests
{
    private static Task<RunningServer> Start(params (string, string)[] settings) =>
        RunningServer.StartAsync(new ModelRegistry().AddChat("fake", new FakeChatClient()), settings);

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private const string Hello = """{"model":"fake","messages":[{"role":"user","content":"hi you"}]}""";

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        return error;
    }

    [Fact]
    public async Task Completion_has_openai_shape()
    {
        await using var s = await Start();
        using var response = await s.Http.PostAsync("/v1/chat/completions", Json(Hello));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var root = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("chat.completion", root.GetProperty("object").GetString());
        Assert.StartsWith("chatcmpl-", root.GetProperty("id").GetString());
        Assert.True(root.GetProperty("created").GetInt64() > 1_600_000_000);
        Assert.Equal("fake", root.GetProperty("model").GetString());
        var choice = root.GetProperty("choices")[0];
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal("You said: hi you", choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        var usage = root.GetProperty("usage");
        Assert.Equal(7, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(4, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(11, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_is_sse_chunks_then_done()
    {
        await using var s = await Start();
        var body = """{"model":"fake","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":[{"type":"text","text":"a b"}]}]}""";
        using var response = await s.Http.PostAsync("/v1/chat/completions", Json(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var raw = await response.Content.ReadAsStringAsync();
        var events = raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        Assert.EndsWith("data: [DONE]\n\n", raw);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());

        var withChoices = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).ToList();
        var text = string.Concat(withChoices.Select(c => c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal("You said: a b", text);
        Assert.All(withChoices[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
        Assert.Equal("stop", withChoices[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        var last = chunks[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(7, last.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(4, last.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(11, last.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_without_include_usage_has_no_usage_chunk()
    {
        await using var s = await Start();
        using var response = await s.Http.PostAsync("/v1/chat/completions", Json("""{"model":"fake","stream":true,"messages":[{"role":"user","content":"x"}]}"""));
        var raw = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("\"usage\"", raw);
        Assert.EndsWith("data: [DONE]\n\n", raw);
    }

    [Fact]
    public async Task Stop_and_max_tokens_shape_the_answer()
    {
        await using var s = await Start();
        using var r1 = await s.Http.PostAsync("/v1/chat/completions", Json("""{"model":"fake","stop":"hi","messages":[{"role":"user","content":"hi you"}]}"""));
        var c1 = JsonDocument.Parse(await r1.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0];
        Assert.Equal("You said: ", c1.GetProperty("message").GetProperty("content").GetString());
        using var r2 = await s.Http.PostAsync("/v1/chat/completions", Json("""{"model":"fake","max_tokens":2,"messages":[{"role":"user","content":"hi you"}]}"""));
        var c2 = JsonDocument.Parse(await r2.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0];
        Assert.Equal("You said:", c2.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("length", c2.GetProperty("finish_reason").GetString());
    }

    [Theory]
    [InlineData("""{"model":"fake","messages":[]}""", "messages")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model")]
    [InlineData("""{"model":"fake","temperature":3,"messages":[{"role":"user","content":"x"}]}""", "temperature")]
    [InlineData("""{"model":"fake","top_p":0,"messages":[{"role":"user","content":"x"}]}""", "top_p")]
    [InlineData("""{"model":"fake","max_tokens":0,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake","max_tokens":-5,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake","max_tokens":2e9,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake","max_tokens":2000000000,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake","max_tokens":1e300,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake","max_tokens":2.5,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake","max_completion_tokens":131073,"messages":[{"role":"user","content":"x"}]}""", "max_completion_tokens")]
    [InlineData("""{"model":"fake","temperature":-0.1,"messages":[{"role":"user","content":"x"}]}""", "temperature")]
    [InlineData("""{"model":"fake","temperature":1e30,"messages":[{"role":"user","content":"x"}]}""", "temperature")]
    [InlineData("""{"model":"fake","top_p":1.5,"messages":[{"role":"user","content":"x"}]}""", "top_p")]
    [InlineData("""{"model":"fake","top_p":-1,"messages":[{"role":"user","content":"x"}]}""", "top_p")]
    [InlineData("""{"model":"fake","n":2,"messages":[{"role":"user","content":"x"}]}""", "n")]
    [InlineData("""{"model":"fake","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"x"}]}""", "stop")]
    [InlineData("""{"model":"fake","messages":[{"role":"wizard","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"model":"fake","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}""", "messages[0].content")]
    [InlineData("""{"model":"fake","messages":""", null)]
    public async Task Bad_requests_are_400_in_openai_error_shape(string body, string? param)
    {
        await using var s = await Start();
        using var response = await s.Http.PostAsync("/v1/chat/completions", Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        if (param != null) Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("max_tokens", "2e9", "2000000000 is above the limit of 131072")]
    [InlineData("max_tokens", "-1", "-1 must be at least 1")]
    [InlineData("max_completion_tokens", "0.5", "0.5 is not a whole number")]
    public async Task Absurd_token_limits_are_refused_by_name_never_clamped(string param, string value, string expected)
    {
        await using var s = await Start();
        using var response = await s.Http.PostAsync("/v1/chat/completions", Json($$"""{"model":"fake","{{param}}":{{value}},"messages":[{"role":"user","content":"x"}]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(param + " " + expected, error.GetProperty("message").GetString());
        using var largest = await s.Http.PostAsync("/v1/chat/completions", Json($$"""{"model":"fake","{{param}}":131072,"messages":[{"role":"user","content":"x"}]}"""));
        Assert.Equal(HttpStatusCode.OK, largest.StatusCode);
    }

    [Fact]
    public async Task Unknown_model_is_404_model_not_found()
    {
        await using var s = await Start();
        using var response = await s.Http.PostAsync("/v1/chat/completions", Json("""{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}"""));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Contains("fake", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Embeddings_without_a_generator_is_404_saying_so()
    {
        await using var s = await Start();
        using var response = await s.Http.PostAsync("/v1/embeddings", Json("""{"model":"fake","input":"x"}"""));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("No embedding model is loaded", (await ErrorOf(response)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Embeddings_as_floats_have_openai_shape()
    {
        await using var s = await RunningServer.StartAsync(new ModelRegistry().AddEmbedding("vec", new FakeEmbeddingGenerator()));
        using var response = await s.Http.PostAsync("/v1/embeddings", Json("""{"model":"vec","input":["hello"]}"""));
        var root = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("list", root.GetProperty("object").GetString());
        Assert.Equal("vec", root.GetProperty("model").GetString());
        var item = root.GetProperty("data")[0];
        Assert.Equal("embedding", item.GetProperty("object").GetString());
        Assert.Equal(0, item.GetProperty("index").GetInt32());
        Assert.Equal([5f, 2f, 0f], item.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()));
        Assert.Equal(2, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        using var chat = await s.Http.PostAsync("/v1/chat/completions", Json("""{"model":"vec","messages":[{"role":"user","content":"x"}]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, chat.StatusCode);
    }

    [Fact]
    public async Task Models_list_and_health()
    {
        await using var s = await Start();
        var list = JsonDocument.Parse(await s.Http.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("list", list.GetProperty("object").GetString());
        var model = list.GetProperty("data")[0];
        Assert.Equal("fake", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal("fake", JsonDocument.Parse(await s.Http.GetStringAsync("/v1/models/fake")).RootElement.GetProperty("id").GetString());
        using var missing = await s.Http.GetAsync("/v1/models/none");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var health = JsonDocument.Parse(await s.Http.GetStringAsync("/health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
        using var unknown = await s.Http.GetAsync("/v1/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        await ErrorOf(unknown);
    }

    [Fact]
    public async Task Api_key_is_required_on_v1_but_not_on_health()
    {
        await using var s = await Start(("Server:ApiKey", "sekret-sekret"));
        using (var missing = await s.Http.PostAsync("/v1/chat/completions", Json(Hello)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
            Assert.Equal("invalid_api_key", (await ErrorOf(missing)).GetProperty("code").GetString());
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/v1/models"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sekret-wrong!");
            using var r = await s.Http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }
        using (var right = new HttpRequestMessage(HttpMethod.Get, "/v1/models"))
        {
            right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sekret-sekret");
            using var r = await s.Http.SendAsync(right);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        using var health = await s.Http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Oversized_body_is_413()
    {
        await using var s = await Start(("Server:MaxRequestBodyBytes", "4096"));
        var big = $$"""{"model":"fake","messages":[{"role":"user","content":"{{new string('x', 10_000)}}"}]}""";
        using var response = await s.Http.PostAsync("/v1/chat/completions", Json(big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request_too_large", (await ErrorOf(response)).GetProperty("code").GetString());

        // Chunked (no Content-Length): Kestrel's own limit trips while reading.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using var r2 = await s.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r2.StatusCode);
    }

    [Fact]
    public async Task Requests_beyond_the_slots_and_queue_get_429()
    {
        var slow = new FakeChatClient(hold: true);
        await using var s = await RunningServer.StartAsync(new ModelRegistry().AddChat("fake", slow),
            ("Server:MaxConcurrentRequests", "1"), ("Server:QueueLimit", "1"));
        var first = s.Http.PostAsync("/v1/chat/completions", Json(Hello));
        while (slow.Entered == 0) await Task.Delay(10);
        var second = s.Http.PostAsync("/v1/chat/completions", Json(Hello));
        await Task.Delay(200);
        var third = s.Http.PostAsync("/v1/chat/completions", Json(Hello));

        // One slot and one queue place: of the two later requests exactly one is turned away at once.
        var rejected = await Task.WhenAny(second, third);
        using (var r = await rejected)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            Assert.Equal("rate_limit_exceeded", (await ErrorOf(r)).GetProperty("code").GetString());
            Assert.NotNull(r.Headers.RetryAfter);
        }
        Assert.False(first.IsCompleted);
        slow.Release();
        using var ok1 = await first;
        using var ok2 = await (rejected == second ? third : second);
        Assert.Equal(HttpStatusCode.OK, ok1.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ok2.StatusCode);
    }

    [Fact]
    public async Task A_client_that_goes_away_frees_its_slot()
    {
        var held = new FakeChatClient(hold: true);
        await using var s = await RunningServer.StartAsync(new ModelRegistry().AddChat("held", held).AddChat("fake", new FakeChatClient()),
            ("Server:MaxConcurrentRequests", "1"), ("Server:QueueLimit", "0"));
        using (var cts = new CancellationTokenSource())
        {
            var body = """{"model":"held","stream":true,"messages":[{"role":"user","content":"x"}]}""";
            var abandoned = s.Http.PostAsync("/v1/chat/completions", Json(body), cts.Token);
            while (held.Entered == 0) await Task.Delay(10);
            using (var busy = await s.Http.PostAsync("/v1/chat/completions", Json(Hello)))
                Assert.Equal(HttpStatusCode.TooManyRequests, busy.StatusCode);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        HttpStatusCode status;
        do
        {
            using var r = await s.Http.PostAsync("/v1/chat/completions", Json(Hello));
            status = r.StatusCode;
            if (status != HttpStatusCode.OK) await Task.Delay(50);
        }
        while (status != HttpStatusCode.OK && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task Cors_is_off_unless_configured()
    {
        await using (var off = await Start())
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            request.Headers.Add("Origin", "https://example.com");
            using var r = await off.Http.SendAsync(request);
            Assert.False(r.Headers.Contains("Access-Control-Allow-Origin"));
        }
        await using var on = await Start(("Server:CorsOrigins:0", "https://example.com"));
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", "https://example.com");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        using var p = await on.Http.SendAsync(preflight);
        Assert.Equal("https://example.com", p.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }
}
