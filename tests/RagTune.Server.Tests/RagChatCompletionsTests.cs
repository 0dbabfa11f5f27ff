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
        // 24 tokens cut stories260K's answer, as the ask API's answer (same request) was cut.
        Assert.Equal("length", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        AssertCitation(source, Assert.Single(chunks[^1].GetProperty("citations").EnumerateArray()));
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("citations", out _)));

        var unknown = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions",
            new { model = "rag:nope", messages = new[] { new { role = "user", content = Question } } }), HttpStatusCode.NotFound);
        Assert.Equal("model_not_found", unknown.GetProperty("error").GetProperty("code").GetString());
        var noQuestion = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions",
            new { model = "rag:docs", messages = new[] { new { role = "system", content = "Hi" } } }), HttpStatusCode.BadRequest);
        Assert.Contains("last user message", noQuestion.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Usage_is_reported_streamed_on_request_and_read_by_the_official_client()
    {
        await using var api = await ApiServer.StartAsync(("Server:RagSources", "1"));
        await api.CreateAndIngestAsync();
        var answer = await CompleteAsync(api, new { model = "rag:docs", max_tokens = 24, messages = Ask });
        var usage = answer.GetProperty("usage");
        int prompt = usage.GetProperty("prompt_tokens").GetInt32(), completion = usage.GetProperty("completion_tokens").GetInt32();
        // The prompt is the grounded one: rules, the source and the question are far more than the question's few tokens.
        Assert.True(prompt > 40, $"prompt_tokens {prompt}");
        Assert.InRange(completion, 1, 24);
        Assert.Equal(prompt + completion, usage.GetProperty("total_tokens").GetInt32());

        var chunks = await StreamAsync(api, new { model = "rag:docs", max_tokens = 24, stream = true, stream_options = new { include_usage = true }, messages = Ask });
        var last = chunks[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(usage.GetRawText(), last.GetProperty("usage").GetRawText()); // greedy: the same call, the same counts
        Assert.Single(chunks[^2].GetProperty("citations").EnumerateArray());
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("usage", out var u) && u.ValueKind != JsonValueKind.Null));
        var without = await StreamAsync(api, new { model = "rag:docs", max_tokens = 24, stream = true, messages = Ask });
        Assert.All(without, c => Assert.False(c.TryGetProperty("usage", out var u) && u.ValueKind != JsonValueKind.Null));

        var openai = new OpenAIClient(new ApiKeyCredential("unused-key"), new OpenAIClientOptions { Endpoint = new Uri(api.Server.BaseUrl + "/v1") });
        var chat = openai.GetChatClient("rag:docs");
        var viaClient = (await chat.CompleteChatAsync([new UserChatMessage(Question)], new ChatCompletionOptions { MaxOutputTokenCount = 24 })).Value;
        Assert.Equal((prompt, completion, prompt + completion), (viaClient.Usage.InputTokenCount, viaClient.Usage.OutputTokenCount, viaClient.Usage.TotalTokenCount));
        ChatTokenUsage? streamed = null;
        await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage(Question)], new ChatCompletionOptions { MaxOutputTokenCount = 24 }))
            streamed ??= u.Usage;
        Assert.NotNull(streamed); // the official client asks for stream_options.include_usage
        Assert.Equal((prompt, completion), (streamed.InputTokenCount, streamed.OutputTokenCount));
    }

    [Fact]
    public async Task A_seed_repeats_a_sampled_answer_and_a_stop_sequence_cuts_the_answer()
    {
        await using var api = await ApiServer.StartAsync(("Server:RagSources", "1"));
        await api.CreateAndIngestAsync();
        var greedy = Text(await CompleteAsync(api, new { model = "rag:docs", max_tokens = 24, messages = Ask }));
        Assert.Equal(greedy, Text(await CompleteAsync(api, new { model = "rag:docs", max_tokens = 24, temperature = 0, messages = Ask })));

        bool differs = false;
        for (int seed = 1; seed <= 8 && !differs; seed++)
        {
            var sampled = Text(await CompleteAsync(api, new { model = "rag:docs", max_tokens = 24, temperature = 1.5, top_p = 1, seed, messages = Ask }));
            Assert.Equal(sampled, Text(await CompleteAsync(api, new { model = "rag:docs", max_tokens = 24, temperature = 1.5, top_p = 1, seed, messages = Ask })));
            differs = sampled != greedy;
        }
        Assert.True(differs, "temperature 1.5 gave the greedy answer for seeds 1-8: the request's sampling settings did not reach the model");

        // A word from the middle of the greedy answer stops the same greedy generation just before it.
        var words = greedy.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var stop = words.Skip(words.Length / 2).First(w => w.Length >= 2);
        var expected = greedy[..greedy.IndexOf(stop, StringComparison.Ordinal)].Trim();
        Assert.NotEqual(greedy, expected);
        var cut = await CompleteAsync(api, new { model = "rag:docs", max_tokens = 24, stop, messages = Ask });
        Assert.Equal(expected, Text(cut));
        Assert.Equal("stop", cut.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(cut.GetProperty("usage").GetProperty("completion_tokens").GetInt32() < 24);
    }

    private static readonly object[] Ask = [new { role = "user", content = Question }];

    private static async Task<JsonElement> CompleteAsync(ApiServer api, object body) =>
        await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions", body), HttpStatusCode.OK);

    private static string Text(JsonElement completion) => completion.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    /// <summary>The chunks of a streamed completion (the events before <c>[DONE]</c>).</summary>
    internal static async Task<List<JsonElement>> StreamAsync(ApiServer api, object body)
    {
        using var response = await api.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) },
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        return [.. events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement.Clone())];
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

/// <summary><c>rag:</c> models over a hand-written chat client: the request's options reach it and its usage comes back.</summary>
public sealed class RagChatCompletionOptionsTests
{
    private static readonly object[] Ask = [new { role = "user", content = "How long do cats sleep?" }];

    [Fact]
    public async Task The_requests_options_reach_the_model_under_its_own_id_and_its_usage_is_reported()
    {
        var fake = new FakeChatClient();
        await using var api = await ApiServer.StartAsync(new ModelRegistry().AddChat("fake", fake));
        await api.CreateAndIngestAsync();

        var greedy = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions", new { model = "rag:docs", messages = Ask }), HttpStatusCode.OK);
        Assert.Equal(0f, fake.LastOptions!.Temperature); // greedy unless the request says otherwise
        Assert.Equal(256, fake.LastOptions.MaxOutputTokens);
        Assert.Null(fake.LastOptions.Seed);
        Assert.Equal("fake", fake.LastOptions.ModelId); // never "rag:docs": a remote client would send that upstream
        var answer = greedy.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.StartsWith("You said: Sources:", answer); // the fake echoes the grounded prompt
        AssertUsage(greedy.GetProperty("usage"), 7, answer.Split(' ').Length); // what FakeChatClient reports
        Assert.Equal("stop", greedy.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        var shaped = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions",
            new { model = "rag:docs", temperature = 0.7, top_p = 0.9, seed = 42, max_tokens = 6, stop = new[] { "never" }, messages = Ask }), HttpStatusCode.OK);
        Assert.Equal((0.7f, 0.9f, 42L, 6), (fake.LastOptions.Temperature, fake.LastOptions.TopP, fake.LastOptions.Seed, fake.LastOptions.MaxOutputTokens));
        Assert.Equal(["never"], fake.LastOptions.StopSequences!);
        Assert.Equal("length", shaped.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(string.Join(' ', answer.Split(' ').Take(6)).Trim(), shaped.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        AssertUsage(shaped.GetProperty("usage"), 7, 6);

        var stopped = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions", new { model = "rag:docs", stop = "Question:", messages = Ask }), HttpStatusCode.OK);
        var cut = stopped.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.Equal(answer[..answer.IndexOf("Question:", StringComparison.Ordinal)].Trim(), cut);
        Assert.NotEmpty(stopped.GetProperty("citations").EnumerateArray());

        var chunks = await RagChatCompletionsTests.StreamAsync(api, new { model = "rag:docs", stream = true, stream_options = new { include_usage = true }, messages = Ask });
        var text = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0)
            .Select(c => c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal(answer, text.Trim());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        AssertUsage(chunks[^1].GetProperty("usage"), 7, answer.Split(' ').Length);
        Assert.Equal("stop", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.NotEmpty(chunks[^2].GetProperty("citations").EnumerateArray());
    }

    private static void AssertUsage(JsonElement usage, int prompt, int completion) =>
        Assert.Equal((prompt, completion, prompt + completion),
            (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32()));
}
