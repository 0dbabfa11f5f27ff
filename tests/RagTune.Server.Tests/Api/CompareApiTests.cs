using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace RagTune.Server.Tests.Api;

/// <summary><c>/api/compare</c> on the real server: a comparison started over HTTP, followed, read and deleted.</summary>
public sealed class CompareApiTests
{
    private const string Key = "compare-key-1234";

    private static readonly (string Village, string Founder)[] s_world =
        [("Brel", "Tomas"), ("Kor", "Anna"), ("Tam", "Pieter"), ("Lune", "Mira")];

    /// <summary>The "villages" collection (one uploaded document per village, ingested) and the uploaded "villages.jsonl".</summary>
    private static async Task WorldAsync(ApiServer api)
    {
        await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "villages" }), HttpStatusCode.Created);
        var upload = await api.JsonAsync(await api.Http.PostAsync("/api/collections/villages/documents",
            ApiServer.Files([.. s_world.Select(w => ($"{w.Village}.md", $"# {w.Village}\n\n{w.Founder} founded {w.Village} by the river.\n"))])), HttpStatusCode.Accepted);
        Assert.Equal("succeeded", (await api.FinalAsync(upload.GetProperty("job").GetProperty("id").GetString()!)).GetProperty("state").GetString());
        var questions = string.Join('\n', s_world.Select(w => JsonSerializer.Serialize(new { question = $"Who founded {w.Village}?", answer = w.Founder })));
        await api.JsonAsync(await api.Http.PostAsync("/api/datasets", ApiServer.Files(("villages.jsonl", questions))), HttpStatusCode.Created);
    }

    private static object Fields => new
    {
        collection = "villages",
        model = ApiServer.Model,
        questions = "villages.jsonl",
        arms = new[] { "base", "rag" },
        maxTokens = 4,
        testShare = 0.5,
    };

    [Fact]
    public async Task A_comparison_is_started_followed_read_and_deleted_over_http()
    {
        await using var api = await ApiServer.StartAsync();
        await WorldAsync(api);

        var template = await api.JsonAsync(await api.PostJsonAsync("/api/compare/template", Fields), HttpStatusCode.OK);
        Assert.Contains("collection: \"villages\"", template.GetProperty("spec").GetString());
        Assert.Contains($"path: \"{ApiServer.Model}\"", template.GetProperty("spec").GetString());

        var started = await api.JsonAsync(await api.PostJsonAsync("/api/compare", Fields), HttpStatusCode.Accepted);
        var id = started.GetProperty("comparison").GetProperty("id").GetString()!;
        Assert.Matches("^compare-[0-9a-f]{12}$", id);
        Assert.Equal("compare", started.GetProperty("job").GetProperty("kind").GetString());

        var end = await api.FinalAsync(id);
        Assert.True(end.GetProperty("state").GetString() == "succeeded", end.ToString());
        Assert.Equal("villages-comparison", end.GetProperty("result").GetProperty("name").GetString());

        var status = await api.JsonAsync(await api.Http.GetAsync($"/api/compare/{id}"), HttpStatusCode.OK);
        var summary = status.GetProperty("summary");
        Assert.Equal(["base", "rag"], summary.GetProperty("arms").EnumerateArray().Select(a => a.GetProperty("arm").GetString()));
        Assert.False(string.IsNullOrEmpty(summary.GetProperty("recommendation").GetString()));
        Assert.Equal(["report.html", "report.md", "results.json", "experiment.yaml"], status.GetProperty("files").EnumerateArray().Select(f => f.GetString()));

        using (var html = await api.Http.GetAsync($"/api/compare/{id}/report.html"))
        {
            Assert.Equal(HttpStatusCode.OK, html.StatusCode);
            Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
            // The report is framed by the UI: it may run nothing and load nothing.
            var policy = string.Join(" ", html.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'none'", policy);
            Assert.Contains("frame-ancestors 'self'", policy);
            Assert.Contains("<svg", await html.Content.ReadAsStringAsync());
        }
        using (var results = await api.Http.GetAsync($"/api/compare/{id}/results.json"))
        {
            using var doc = JsonDocument.Parse(await results.Content.ReadAsStringAsync());
            Assert.Equal("ragtune-experiment-results", doc.RootElement.GetProperty("format").GetString());
        }
        Assert.StartsWith("# ", await api.Http.GetStringAsync($"/api/compare/{id}/report.md"));

        var list = await api.JsonAsync(await api.Http.GetAsync("/api/compare"), HttpStatusCode.OK);
        Assert.Equal(id, Assert.Single(list.EnumerateArray()).GetProperty("id").GetString());
        var conflict = await api.JsonAsync(await api.PostJsonAsync($"/api/compare/{id}/cancel", new { }), HttpStatusCode.Conflict);
        Assert.Contains("already finished", conflict.GetProperty("error").GetProperty("message").GetString());

        using (var deleted = await api.Http.DeleteAsync($"/api/compare/{id}")) Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await api.JsonAsync(await api.Http.GetAsync($"/api/compare/{id}/report.html"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_bad_spec_is_a_400_naming_its_line_and_unknown_comparisons_and_files_are_404s()
    {
        await using var api = await ApiServer.StartAsync();
        await WorldAsync(api);
        var spec = "documents:\n  collection: villages\nquestions:\n  file: villages.jsonl\nmodel:\n  path: nope\n";
        var error = (await api.JsonAsync(await api.PostJsonAsync("/api/compare", new { spec }), HttpStatusCode.BadRequest)).GetProperty("error");
        Assert.StartsWith("experiment.yaml line 6: model.path: 'nope' is not a served model loaded from a file; served models: stories260K.", error.GetProperty("message").GetString());
        Assert.Equal("spec", error.GetProperty("param").GetString());
        Assert.Empty((await api.JsonAsync(await api.Http.GetAsync("/api/compare"), HttpStatusCode.OK)).EnumerateArray());

        await api.JsonAsync(await api.Http.GetAsync("/api/compare/compare-0123456789ab"), HttpStatusCode.NotFound);
        await api.JsonAsync(await api.Http.GetAsync("/api/compare/compare-0123456789ab/summary.json"), HttpStatusCode.NotFound);
        await api.JsonAsync(await api.Http.GetAsync("/api/compare/..%2F..%2Fetc/report.html"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task With_an_api_key_a_ticket_opens_one_report_and_nothing_else()
    {
        await using var api = await ApiServer.StartAsync(("Server:ApiKey", Key));
        api.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        await WorldAsync(api);
        var id = (await api.JsonAsync(await api.PostJsonAsync("/api/compare", Fields), HttpStatusCode.Accepted)).GetProperty("comparison").GetProperty("id").GetString()!;
        Assert.Equal("succeeded", (await api.FinalAsync(id)).GetProperty("state").GetString());
        var url = (await api.JsonAsync(await api.PostJsonAsync($"/api/compare/{id}/ticket", new { }), HttpStatusCode.OK)).GetProperty("url").GetString()!;
        Assert.StartsWith($"/api/compare/{id}/report.html?ticket=", url);
        var ticket = url[(url.IndexOf('=') + 1)..];

        api.Http.DefaultRequestHeaders.Authorization = null;
        using (var framed = await api.Http.GetAsync(url)) Assert.Equal(HttpStatusCode.OK, framed.StatusCode);
        foreach (var other in new[]
        {
            $"/api/compare/{id}/report.html", $"/api/compare/{id}/results.json?ticket={ticket}", $"/api/compare/{id}?ticket={ticket}",
            $"/api/compare/{id}/report.html?ticket={ticket[..^1]}{(ticket[^1] == '0' ? '1' : '0')}", "/api/compare?ticket=" + ticket,
        })
        {
            using var refused = await api.Http.GetAsync(other);
            Assert.True(refused.StatusCode == HttpStatusCode.Unauthorized, other);
        }
    }
}
