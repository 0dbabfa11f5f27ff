using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using RagTune.Server.Tests.Api;

namespace RagTune.Server.Tests.WebUi;

/// <summary>The web UI in a real browser (Debian's Chromium) against the real server, model and SQLite store.</summary>
[Trait("Category", "Browser")]
public sealed class WebUiBrowserTests
{
    [Fact]
    public async Task Upload_a_document_ask_a_question_and_open_the_cited_passage()
    {
        await using var api = await ApiServer.StartAsync();
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        var errors = Browser.Errors(page);
        await page.GotoAsync(api.Server.BaseUrl + "/");

        await page.Locator("#create-form").GetByLabel("Name").FillAsync("docs");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create collection" }).ClickAsync();
        await Assertions.Expect(page.Locator("#collection")).ToHaveValueAsync("docs");

        await page.Locator("#files").SetInputFilesAsync(new FilePayload { Name = "pets.md", MimeType = "text/markdown", Buffer = Encoding.UTF8.GetBytes(ApiServer.Pets) });
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload and ingest" }).ClickAsync();
        await Assertions.Expect(page.Locator("#ingest-detail")).ToContainTextAsync("Done: 1 added");
        await Assertions.Expect(page.Locator("#collection-stats")).ToHaveTextAsync("1 documents, 2 chunks");
        await Assertions.Expect(page.Locator("#jobs")).ToContainTextAsync("Ingest into docs");
        await Browser.ScreenshotAsync(page, "1-ingested");

        // Tabs work from the keyboard: arrow right from Documents selects Ask.
        await page.GetByRole(AriaRole.Tab, new() { Name = "Documents" }).FocusAsync();
        await page.Keyboard.PressAsync("ArrowRight");
        await Assertions.Expect(page.GetByRole(AriaRole.Tab, new() { Name = "Ask" })).ToHaveAttributeAsync("aria-selected", "true");
        await Assertions.Expect(page.Locator("#panel-ask")).ToBeVisibleAsync();

        await page.GetByLabel("Question", new() { Exact = true }).FillAsync("How long do cats sleep?");
        await page.GetByRole(AriaRole.Button, new() { Name = "Ask", Exact = true }).ClickAsync();
        var citation = page.Locator("#answer button.cite").First;
        await Assertions.Expect(citation).ToHaveTextAsync("[1]");
        await Assertions.Expect(page.Locator("#answer")).ToContainTextAsync("Cats sleep sixteen hours a day.");
        await Assertions.Expect(page.Locator("#sources li")).ToHaveCountAsync(2);
        await Browser.ScreenshotAsync(page, "2-answer");

        await citation.ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        await Assertions.Expect(dialog.Locator("mark")).ToContainTextAsync("Cats sleep sixteen hours a day.");
        // The passage is shown in its whole document: the other section is there too, outside the highlight.
        await Assertions.Expect(dialog.Locator("#passage-text")).ToContainTextAsync("Dogs bark at strangers");
        await Assertions.Expect(dialog.Locator("mark")).Not.ToContainTextAsync("Dogs bark");
        await Browser.ScreenshotAsync(page, "3-passage");
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(dialog).ToBeHiddenAsync();
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Start_a_small_fine_tuning_job_and_watch_the_loss_curve_grow()
    {
        await using var api = await ApiServer.StartAsync();
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        await page.GotoAsync(api.Server.BaseUrl + "/");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Fine-tune" }).ClickAsync();
        await Assertions.Expect(page.Locator("#panel-tune").GetByLabel("Base model")).ToHaveValueAsync(ApiServer.Model);
        await page.Locator("#panel-tune").GetByLabel("Steps").FillAsync("24");
        await page.GetByLabel("Validate every").FillAsync("4");

        // Record how many training points each redraw of the curve has, to see it grow while the job runs.
        await page.EvaluateAsync("""
            () => {
              window.curveSizes = [];
              new MutationObserver(() => {
                const line = document.querySelector('#loss-chart polyline.train');
                if (line) window.curveSizes.push(Number(line.dataset.points));
              }).observe(document.getElementById('loss-chart'), { childList: true });
            }
            """);
        await page.GetByRole(AriaRole.Button, new() { Name = "Start fine-tuning" }).ClickAsync();
        await page.WaitForFunctionAsync("() => window.curveSizes.some(n => n >= 3)");
        await Browser.ScreenshotAsync(page, "4-training");
        await Assertions.Expect(page.Locator("#tune-detail")).ToContainTextAsync("Finished 24 steps", new() { Timeout = 300_000 });
        await Browser.ScreenshotAsync(page, "5-trained");

        var sizes = (await page.EvaluateAsync<JsonElement>("() => window.curveSizes")).EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(24, sizes[^1]);
        Assert.Contains(sizes, n => n > 0 && n < 24); // drawn while training, not only at the end
        Assert.Equal(sizes.Order(), sizes);
        await Assertions.Expect(page.Locator("#loss-chart polyline.val")).ToHaveAttributeAsync("data-points", "6");
        await Assertions.Expect(page.Locator("#loss-chart figcaption")).ToContainTextAsync("Loss after step 24");

        // Serve the trained adapter, then answer with it in Ask.
        await page.GetByLabel("Serve the adapter as model").FillAsync("cats");
        await page.GetByRole(AriaRole.Button, new() { Name = "Serve adapter" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync($"Serving {ApiServer.Model}+cats");
        await Assertions.Expect(page.Locator("#ask-model option[value='" + ApiServer.Model + "+cats']")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task With_an_api_key_the_page_asks_for_it_then_trains_from_an_uploaded_file()
    {
        await using var api = await ApiServer.StartAsync(("Server:ApiKey", "browser-key-123456"));
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        await page.GotoAsync(api.Server.BaseUrl + "/");
        var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "API key" });
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        await dialog.GetByLabel("Key").FillAsync("browser-key-123456");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Use key" }).ClickAsync();
        await Assertions.Expect(dialog).ToBeHiddenAsync();

        await page.GetByRole(AriaRole.Tab, new() { Name = "Fine-tune" }).ClickAsync();
        await Assertions.Expect(page.Locator("#panel-tune").GetByLabel("Base model")).ToHaveValueAsync(ApiServer.Model);
        await page.Locator("#panel-tune").GetByLabel("Steps").FillAsync("4");
        var lines = string.Join('\n', Enumerable.Range(0, 8).Select(i => JsonSerializer.Serialize(new { instruction = $"Name dog {i}.", output = $"Dog {i} is called Rex." })));
        await page.Locator("#tune-file").SetInputFilesAsync(new FilePayload { Name = "dogs.jsonl", MimeType = "application/jsonl", Buffer = Encoding.UTF8.GetBytes(lines) });
        await page.GetByRole(AriaRole.Button, new() { Name = "Start fine-tuning" }).ClickAsync();
        await Assertions.Expect(page.Locator("#tune-detail")).ToContainTextAsync("Finished 4 steps", new() { Timeout = 300_000 });
        Assert.True(File.Exists(Path.Combine(api.DataDir, "datasets", "dogs.jsonl")));
        await Browser.ScreenshotAsync(page, "6-keyed-file-tune");
    }

    [Fact]
    public async Task Start_a_comparison_watch_its_stages_and_read_its_report()
    {
        await using var api = await ApiServer.StartAsync();
        await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "villages" }), System.Net.HttpStatusCode.Created);
        (string Village, string Founder)[] world = [("Brel", "Tomas"), ("Kor", "Anna"), ("Tam", "Pieter"), ("Lune", "Mira")];
        var upload = await api.JsonAsync(await api.Http.PostAsync("/api/collections/villages/documents",
            ApiServer.Files([.. world.Select(w => ($"{w.Village}.md", $"# {w.Village}\n\n{w.Founder} founded {w.Village} by the river.\n"))])), System.Net.HttpStatusCode.Accepted);
        await api.FinalAsync(upload.GetProperty("job").GetProperty("id").GetString()!);

        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        var errors = Browser.Errors(page);
        await page.GotoAsync(api.Server.BaseUrl + "/");
        await Assertions.Expect(page.Locator("#collection")).ToHaveValueAsync("villages");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Compare" }).ClickAsync();
        var panel = page.Locator("#panel-compare");
        await Assertions.Expect(panel.GetByLabel("Base model")).ToHaveValueAsync(ApiServer.Model);

        var questions = string.Join('\n', world.Select(w => JsonSerializer.Serialize(new { question = $"Who founded {w.Village}?", answer = w.Founder })));
        await page.Locator("#compare-file").SetInputFilesAsync(new FilePayload { Name = "villages.jsonl", MimeType = "application/jsonl", Buffer = Encoding.UTF8.GetBytes(questions) });
        await panel.GetByLabel("Training steps").FillAsync("2");
        await panel.GetByLabel("fine-tuned + RAG").UncheckAsync();
        await panel.GetByLabel("RAFT + RAG").UncheckAsync();
        await panel.GetByRole(AriaRole.Button, new() { Name = "Start comparison" }).ClickAsync();

        await Assertions.Expect(page.Locator("#compare-stages li").First).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "7-comparing");
        await Assertions.Expect(page.Locator("#compare-detail")).ToContainTextAsync("Compare villages-comparison: finished.", new() { Timeout = 300_000 });
        var report = page.GetByRole(AriaRole.Article, new() { Name = "Report: villages-comparison" });
        await Assertions.Expect(report).ToBeVisibleAsync();
        await Assertions.Expect(report.Locator("#compare-recommendation")).Not.ToBeEmptyAsync();
        await Assertions.Expect(report.Locator("#compare-reasons li").First).ToBeVisibleAsync();
        await Assertions.Expect(report.Locator("#compare-arm-rows tr")).ToHaveCountAsync(3);
        await Assertions.Expect(report.Locator("#compare-arm-rows")).ToContainTextAsync("ft");
        // The full report, framed: its charts are there.
        await Assertions.Expect(page.FrameLocator("#report-frame").Locator("svg").First).ToBeVisibleAsync();
        await Assertions.Expect(page.FrameLocator("#report-frame").Locator("h1")).ToContainTextAsync("villages-comparison");
        await Assertions.Expect(page.Locator("#compare-list")).ToContainTextAsync("succeeded");
        await Browser.ScreenshotAsync(page, "8-report");

        // The spec the form describes, ready to edit; the uploaded questions file is now one of the choices.
        await panel.GetByText("Edit the experiment spec").ClickAsync();
        await Assertions.Expect(panel.GetByLabel("Spec (YAML)")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("collection: \"villages\""));
        await Assertions.Expect(panel.GetByLabel("Spec (YAML)")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("file: \"villages.jsonl\""));
        Assert.Empty(errors);
    }
}
