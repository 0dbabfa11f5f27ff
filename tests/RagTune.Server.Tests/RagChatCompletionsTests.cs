using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using RagTune.Server.Tests.Api;

namespace RagTune.Server.Tests;

[Trait("Category", "Slow")]
public sealed class RagChatCompletionsTests
{
    private const string Question = "How long do cats sleep?";

    [Fact]
    public async Task A_collection_is_a_rag_model_whose_answer_and_citations_equal_the_ask_api()
    {
        // One passage: two do not fit stories260K's 512-token context with the answer.
        await using var api = await ApiServer.StartAsync(("Server:RagSources", "1"));
        var openai = new OpenAIClient(new ApiKeyCredential("unused-key"), new OpenAIClientOptions { Endpoint = new Uri(api.Server.BaseUrl + "/v1") });
        var before = (await openai.GetOpenAIModelClient().GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.DoesNotContain("rag:docs", before);
        await api.CreateAndIngestAsync();
        var ids = (await openai.GetOpenAIModelClient().GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.Equal([ApiServer.Model, "rag:docs"], ids);

        var expected = await api.JsonAsync(await api.PostJsonAsync("/api/collections/docs/ask",
            new { question = Question, model = ApiServer.Model, k = 1, maxTokens = 24 }), HttpStatusCode.OK);
        var source = expected.GetProperty("sources")[0];

        var viaClient = (await openai.GetChatClient("rag:docs").CompleteChatAsync(
            [new SystemChatMessage("Be brief."), new UserChatMessage(Question)], new ChatCompletionOptions { MaxOutputTokenCount = 24 })).Value;
        Assert.Equal(expected.GetProperty("answer").GetString(), viaClient.Content[0].Text);
        Assert.Equal("rag:docs", viaClient.Model);

        var raw = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions",
            new { model = "rag:docs", max_tokens = 24, messages = new[] { new { role = "user", content = Question } } }), HttpStatusCode.OK);
        Assert.Equal(expected.GetProperty("answer").GetString(), raw.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        var citation = Assert.Single(raw.GetProperty("citations").EnumerateArray());
        AssertCitation(source, citation);

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "rag:docs", max_tokens = 24, stream = true, messages = new[] { new { role = "user", content = Question } } }),
        };
        using var response = await api.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", lines[^1]);
        var chunks = lines[..^1].Select(l => JsonDocument.Parse(l["data: ".Length..]).RootElement.Clone()).ToList();
        var text = string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal(expected.GetProperty("answer").GetString(), text.Trim());
        Assert.Equal("stop", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        AssertCitation(source, Assert.Single(chunks[^1].GetProperty("citations").EnumerateArray()));
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("citations", out _)));

        var unknown = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions",
            new { model = "rag:nope", messages = new[] { new { role = "user", content = Question } } }), HttpStatusCode.NotFound);
        Assert.Equal("model_not_found", unknown.GetProperty("error").GetProperty("code").GetString());
        var noQuestion = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions",
            new { model = "rag:docs", messages = new[] { new { role = "system", content = "Hi" } } }), HttpStatusCode.BadRequest);
        Assert.Contains("last user message", noQuestion.GetProperty("error").GetProperty("message").GetString());
    }

    private static void AssertCitation(JsonElement source, JsonElement citation)
    {
        Assert.Equal(1, citation.GetProperty("number").GetInt32());
        Assert.Equal("pets.md", citation.GetProperty("document").GetString());
        Assert.Equal(source.GetProperty("title").GetString(), citation.GetProperty("source").GetString());
        Assert.Equal(source.GetProperty("chunkId").GetInt64(), citation.GetProperty("chunk_id").GetInt64());
        Assert.Equal([source.GetProperty("start").GetInt32(), source.GetProperty("end").GetInt32()],
            citation.GetProperty("span").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Equal(source.GetProperty("text").GetString(), citation.GetProperty("text").GetString());
        Assert.Equal(source.GetProperty("cited").GetBoolean(), citation.GetProperty("cited").GetBoolean());
        Assert.Contains("sixteen hours", citation.GetProperty("text").GetString());
    }
}
