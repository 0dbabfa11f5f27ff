using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RagTune.Models.Local;

namespace RagTune.Server.Tests.Api;

/// <summary>
/// <c>POST /api/tune/{id}/serve</c>: a finished fine-tuning job's adapter served as <c>{model}+{name}</c> while the server
/// runs, usable on <c>/v1</c> and behind the collection's RAG answers, and served again after a restart.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ServeAdapterApiTests
{
    private static async Task<string> TunedJobAsync(ApiServer api)
    {
        var id = (await api.JsonAsync(await api.PostJsonAsync("/api/tune", ApiServer.TuneBody(steps: 4)), HttpStatusCode.Accepted)).GetProperty("id").GetString()!;
        var end = await api.FinalAsync(id);
        Assert.True(end.GetProperty("state").GetString() == "succeeded", end.ToString());
        Assert.Equal(ApiServer.Model, end.GetProperty("result").GetProperty("model").GetString());
        return id;
    }

    [Fact]
    public async Task A_finished_job_s_adapter_is_served_answers_on_v1_and_in_rag_and_is_served_again_after_a_restart()
    {
        await using var api = await ApiServer.StartAsync();
        var job = await TunedJobAsync(api);

        var served = await api.JsonAsync(await api.PostJsonAsync($"/api/tune/{job}/serve", new { name = "cats" }), HttpStatusCode.Created);
        Assert.Equal($"{ApiServer.Model}+cats", served.GetProperty("id").GetString());
        var ids = (await api.JsonAsync(await api.Http.GetAsync("/v1/models"), HttpStatusCode.OK)).GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString());
        Assert.Contains($"{ApiServer.Model}+cats", ids);

        // The adapter changes what the model says: the same greedy request on the base and on base+adapter differ.
        async Task<string> ChatAsync(string model)
        {
            var body = await api.JsonAsync(await api.PostJsonAsync("/v1/chat/completions", new
            {
                model, max_tokens = 12, temperature = 0, messages = new[] { new { role = "user", content = "Tell me about cat 3." } },
            }), HttpStatusCode.OK);
            return body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        }
        Assert.NotEqual(await ChatAsync(ApiServer.Model), await ChatAsync($"{ApiServer.Model}+cats"));

        await api.CreateAndIngestAsync();
        var answer = await api.JsonAsync(await api.PostJsonAsync("/api/collections/docs/ask", new { question = "How long do cats sleep?", model = $"{ApiServer.Model}+cats", k = 1, maxTokens = 8 }),
            HttpStatusCode.OK);
        Assert.Equal($"{ApiServer.Model}+cats", answer.GetProperty("mode").GetString());

        var again = await api.JsonAsync(await api.PostJsonAsync($"/api/tune/{job}/serve", new { name = "cats" }), HttpStatusCode.Conflict);
        Assert.Contains("already served", again.GetProperty("error").GetProperty("message").GetString());
        var bad = await api.JsonAsync(await api.PostJsonAsync($"/api/tune/{job}/serve", new { name = "a+b" }), HttpStatusCode.BadRequest);
        Assert.Equal("name", bad.GetProperty("error").GetProperty("param").GetString());
        await api.JsonAsync(await api.PostJsonAsync("/api/tune/tune-000000000000/serve", new { name = "x" }), HttpStatusCode.NotFound);

        var file = Path.Combine(api.DataDir, "served-adapters.json");
        using (var doc = JsonDocument.Parse(File.ReadAllText(file)))
        {
            Assert.Equal("ragtune-served-adapters", doc.RootElement.GetProperty("format").GetString());
            var entry = Assert.Single(doc.RootElement.GetProperty("adapters").EnumerateArray());
            Assert.Equal((ApiServer.Model, "cats"), (entry.GetProperty("model").GetString(), entry.GetProperty("name").GetString()));
            Assert.StartsWith($"tunes/{job}/", entry.GetProperty("folder").GetString());
        }

        // A restarted server over the same data directory serves it again.
        using var models = new ModelRegistry().AddChat(ApiServer.Model, new LocalChatClient(ApiServer.StoriesPath, new LocalChatClientOptions { Threads = 1, ContextSize = 512 }), ApiServer.StoriesPath);
        await using var restarted = await RunningServer.StartAsync(models, ("RagTune:DataDirectory", api.DataDir));
        var list = await restarted.Http.GetFromJsonAsync<JsonElement>("/v1/models");
        Assert.Contains($"{ApiServer.Model}+cats", list.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        // The job itself came back from the journal: its adapter can still be served under another name (this was a
        // 409 "is succeeded; only a succeeded job's adapter can be served", found by ServeKillTests).
        var again2 = await restarted.Http.PostAsJsonAsync($"/api/tune/{job}/serve", new { name = "dogs" });
        Assert.True(again2.StatusCode == HttpStatusCode.Created, await again2.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_damaged_list_of_served_adapters_does_not_stop_the_server()
    {
        await using var api = await ApiServer.StartAsync();
        const string Damaged = "{\"format\": \"something-else\", \"version\": 1, \"adapters\": []}";
        Directory.CreateDirectory(api.DataDir);
        File.WriteAllText(Path.Combine(api.DataDir, "served-adapters.json"), Damaged);
        using var models = new ModelRegistry().AddChat(ApiServer.Model, new LocalChatClient(ApiServer.StoriesPath, new LocalChatClientOptions { Threads = 1, ContextSize = 512 }), ApiServer.StoriesPath);
        await using var restarted = await RunningServer.StartAsync(models, ("RagTune:DataDirectory", api.DataDir));
        var list = await restarted.Http.GetFromJsonAsync<JsonElement>("/v1/models");
        Assert.Equal([ApiServer.Model], list.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(Damaged, File.ReadAllText(Path.Combine(api.DataDir, "served-adapters.json")));
    }
}
