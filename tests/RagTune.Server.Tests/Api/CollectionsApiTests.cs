using System.Net;
using System.Text;
using System.Text.Json;

namespace RagTune.Server.Tests.Api;

public sealed class CollectionsApiTests
{
    [Fact]
    public async Task Collections_are_created_listed_inspected_and_deleted_over_http()
    {
        await using var api = await ApiServer.StartAsync();
        var created = await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "docs" }), HttpStatusCode.Created);
        Assert.Equal("docs", created.GetProperty("name").GetString());
        Assert.Equal(0, created.GetProperty("documents").GetInt32());

        var dup = await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "docs" }), HttpStatusCode.Conflict);
        Assert.Contains("already exists", dup.GetProperty("error").GetProperty("message").GetString());
        var bad = await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "../x" }), HttpStatusCode.BadRequest);
        Assert.Equal("name", bad.GetProperty("error").GetProperty("param").GetString());
        var noBody = await api.JsonAsync(await api.Http.PostAsync("/api/collections", new StringContent("{", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest);
        Assert.Contains("JSON", noBody.GetProperty("error").GetProperty("message").GetString());

        var list = await api.JsonAsync(await api.Http.GetAsync("/api/collections"), HttpStatusCode.OK);
        Assert.Equal(["docs"], list.EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(HttpStatusCode.NoContent, (await api.Http.DeleteAsync("/api/collections/docs")).StatusCode);
        var gone = await api.JsonAsync(await api.Http.GetAsync("/api/collections/docs"), HttpStatusCode.NotFound);
        Assert.Equal("not_found", gone.GetProperty("error").GetProperty("code").GetString());
        await api.JsonAsync(await api.Http.GetAsync("/api/nothing-here"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_upload_is_ingested_as_a_job_then_searched_and_its_citation_opens_the_passage()
    {
        await using var api = await ApiServer.StartAsync();
        var final = await api.CreateAndIngestAsync();
        Assert.Equal("succeeded", final.GetProperty("state").GetString());
        Assert.Equal(1, final.GetProperty("result").GetProperty("added").GetInt32());
        var stats = await api.JsonAsync(await api.Http.GetAsync("/api/collections/docs"), HttpStatusCode.OK);
        Assert.Equal((1, 2), (stats.GetProperty("documents").GetInt32(), stats.GetProperty("chunks").GetInt32()));

        var hits = await api.JsonAsync(await api.PostJsonAsync("/api/collections/docs/search", new { query = "bark at strangers", k = 3 }), HttpStatusCode.OK);
        Assert.Contains("Dogs bark", hits[0].GetProperty("text").GetString());

        var answer = await api.JsonAsync(await api.PostJsonAsync("/api/collections/docs/ask", new { question = "How long do cats sleep?" }), HttpStatusCode.OK);
        Assert.Equal("extractive", answer.GetProperty("mode").GetString());
        var source = answer.GetProperty("sources").EnumerateArray().First(s => s.GetProperty("cited").GetBoolean());
        var passage = await api.JsonAsync(await api.Http.GetAsync($"/api/collections/docs/chunks/{source.GetProperty("chunkId").GetInt64()}"), HttpStatusCode.OK);
        var text = passage.GetProperty("text").GetString()!;
        Assert.Equal(source.GetProperty("text").GetString(), text[passage.GetProperty("start").GetInt32()..passage.GetProperty("end").GetInt32()]);
        Assert.True(passage.GetProperty("wholeDocument").GetBoolean());
        await api.JsonAsync(await api.Http.GetAsync("/api/collections/docs/chunks/999"), HttpStatusCode.NotFound);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Ask_streams_a_real_model_s_answer_over_server_sent_events()
    {
        await using var api = await ApiServer.StartAsync();
        await api.CreateAndIngestAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/collections/docs/ask")
        {
            Content = JsonContent(new { question = "How long do cats sleep?", model = ApiServer.Model, k = 1, maxTokens = 24, stream = true }),
        };
        using var response = await api.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.True(response.Content.Headers.ContentType!.MediaType == "text/event-stream", await response.Content.ReadAsStringAsync());
        using var events = new SseStream(response);
        var all = await events.ToEndAsync();
        var deltas = all.Where(e => e.Name == "delta").Select(e => e.Data.GetProperty("text").GetString()).ToList();
        Assert.True(deltas.Count > 1, "the answer should arrive in pieces");
        var (name, final) = all[^1];
        Assert.Equal("answer", name);
        Assert.Equal(ApiServer.Model, final.GetProperty("mode").GetString());
        Assert.Equal(string.Concat(deltas).Trim(), final.GetProperty("answer").GetString());
        Assert.Equal(1, final.GetProperty("sources").GetArrayLength());

        // Two sources do not fit stories260K's 512-token context: a clear 400 before any event is sent.
        var tooLong = await api.JsonAsync(await api.PostJsonAsync("/api/collections/docs/ask", new { question = "How long do cats sleep?", model = ApiServer.Model, k = 2, stream = true }), HttpStatusCode.BadRequest);
        Assert.Equal("context_length_exceeded", tooLong.GetProperty("error").GetProperty("code").GetString());

        var unknown = await api.JsonAsync(await api.PostJsonAsync("/api/collections/docs/ask", new { question = "cats?", model = "gpt-9", stream = true }), HttpStatusCode.NotFound);
        Assert.Equal("model_not_found", unknown.GetProperty("error").GetProperty("code").GetString());
    }

    [Theory]
    [InlineData(2_000_000_000)]
    [InlineData(0)]
    [InlineData(-3)]
    public async Task Ask_refuses_an_absurd_max_tokens_by_name(int maxTokens)
    {
        await using var api = await ApiServer.StartAsync();
        await api.CreateAndIngestAsync();
        var bad = await api.JsonAsync(await api.PostJsonAsync("/api/collections/docs/ask", new { question = "How long do cats sleep?", model = ApiServer.Model, maxTokens }), HttpStatusCode.BadRequest);
        Assert.Equal("maxTokens", bad.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("maxTokens " + maxTokens, bad.GetProperty("error").GetProperty("message").GetString());
    }

    private static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
}
