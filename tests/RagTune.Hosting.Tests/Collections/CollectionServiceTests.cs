using System.Text;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Jobs;
using RagTune.Hosting.Tests.Jobs;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Collections;

public sealed class CollectionServiceTests
{
    private const string Pets = "# Cats\n\nCats sleep sixteen hours a day. They purr when they are content.\n\n# Dogs\n\nDogs bark at strangers and love long walks in the park.\n";

    private static Stream Text(string s) => new MemoryStream(Encoding.UTF8.GetBytes(s));

    private static async Task<IngestResult> IngestAsync(HostedServices h, string collection, string name, string text)
    {
        await h.Collections.SaveUploadAsync(collection, name, Text(text), CancellationToken.None);
        var final = await JobQueueTests.FinalAsync(h.Collections.StartIngest(collection));
        Assert.True(final.State == JobState.Succeeded, final.Error);
        return Assert.IsType<IngestResult>(final.Result);
    }

    [Fact]
    public async Task Collections_are_created_listed_counted_and_deleted()
    {
        await using var h = await HostedServices.StartAsync();
        var created = await h.Collections.CreateAsync("docs", CancellationToken.None);
        Assert.Equal(("docs", 0, 0), (created.Name, created.Documents, created.Chunks));
        await IngestAsync(h, "docs", "pets.md", Pets);
        var listed = Assert.Single(await h.Collections.ListAsync(CancellationToken.None));
        Assert.Equal(("docs", 1, 2), (listed.Name, listed.Documents, listed.Chunks));
        Assert.Equal(listed, await h.Collections.StatsAsync("docs", CancellationToken.None));

        var again = await Assert.ThrowsAsync<HostingException>(() => h.Collections.CreateAsync("docs", CancellationToken.None));
        Assert.Equal(HostingFailure.Conflict, again.Failure);

        h.Collections.Delete("docs");
        Assert.Empty(await h.Collections.ListAsync(CancellationToken.None));
        Assert.False(Directory.Exists(h.Collections.UploadFolder("docs")));
        var gone = await Assert.ThrowsAsync<HostingException>(() => h.Collections.StatsAsync("docs", CancellationToken.None));
        Assert.Equal(HostingFailure.NotFound, gone.Failure);
        Assert.Contains("create it first", gone.Message);
    }

    [Theory]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("with space")]
    public async Task Invalid_collection_names_are_refused(string name)
    {
        await using var h = await HostedServices.StartAsync();
        var e = await Assert.ThrowsAsync<HostingException>(() => h.Collections.CreateAsync(name, CancellationToken.None));
        Assert.Equal((HostingFailure.Invalid, "name"), (e.Failure, e.Field));
        Assert.Empty(Directory.GetFiles(h.Root, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_uploaded_document_is_ingested_searched_and_answered_with_its_cited_passage()
    {
        await using var h = await HostedServices.StartAsync();
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        var result = await IngestAsync(h, "docs", "../pets.md", Pets);
        Assert.Equal((1, 2), (result.Added, result.ChunksWritten));
        Assert.Empty(result.Failed);

        var hits = (await h.Collections.SearchAsync("docs", "how long do cats sleep", 5, null, CancellationToken.None)).Passages;
        Assert.Equal("pets.md", hits[0].DocumentId);
        Assert.Contains("sixteen hours", hits[0].Text);

        AskResult? answer = null;
        var text = new StringBuilder();
        await foreach (var u in h.Collections.AskAsync("docs", "How long do cats sleep?", 3, null, null, null, new ChatOptions { MaxOutputTokens = 64 }, CancellationToken.None))
        {
            text.Append(u.Delta);
            answer ??= u.Final;
        }
        Assert.NotNull(answer);
        Assert.Equal("extractive", answer.Mode);
        Assert.Equal(answer.Answer, text.ToString());
        Assert.Contains("sixteen hours a day. [1]", answer.Answer);
        var cited = answer.Sources.Single(s => s.Number == 1);
        Assert.True(cited.Cited);

        var passage = await h.Collections.PassageAsync("docs", cited.ChunkId, CancellationToken.None);
        Assert.True(passage.WholeDocument);
        Assert.Equal(cited.Text, passage.Text[passage.Start..passage.End]);
        Assert.Contains("Dogs bark", passage.Text); // the whole document, not only the passage
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Ask_gives_the_model_the_requests_settings_greedy_by_default_and_returns_the_usage_it_reported()
    {
        await using var h = await HostedServices.StartAsync();
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        await IngestAsync(h, "docs", "pets.md", Pets);
        var stories = SharedData.File("models", "stories260k", "stories260K.gguf");
        using var chat = new ObservedChatClient(new LocalChatClient(stories, new LocalChatClientOptions { Threads = 1, ContextSize = 512 }));

        // One source: two do not fit stories260K's 512-token context with the answer.
        var greedy = await AskAsync(h, chat, new ChatOptions { MaxOutputTokens = 16 });
        Assert.Equal((0f, 16, "stories260K"), (chat.LastOptions!.Temperature, chat.LastOptions.MaxOutputTokens, chat.LastOptions.ModelId));
        Assert.Equal("stories260K", greedy.Mode);
        var reported = chat.LastUsage!;
        Assert.Equal(new AskUsage((int)reported.InputTokenCount!, (int)reported.OutputTokenCount!, (int)reported.TotalTokenCount!), greedy.Usage);
        Assert.True(greedy.Usage.PromptTokens > 40, $"the grounded prompt is the input ({greedy.Usage.PromptTokens} tokens)");
        Assert.Equal(greedy.Usage.CompletionTokens == 16 ? "length" : "stop", greedy.FinishReason);
        var again = await AskAsync(h, chat, new ChatOptions { MaxOutputTokens = 16 });
        Assert.Equal((greedy.Answer, greedy.Usage, greedy.FinishReason), (again.Answer, again.Usage, again.FinishReason));

        var sampling = new ChatOptions { MaxOutputTokens = 16, Temperature = 1.5f, TopP = 0.9f, Seed = 7, StopSequences = ["zzz"] };
        var sampled = await AskAsync(h, chat, sampling);
        Assert.Equal((1.5f, 0.9f, 7L, "zzz"), (chat.LastOptions.Temperature, chat.LastOptions.TopP, chat.LastOptions.Seed, chat.LastOptions.StopSequences!.Single()));
        Assert.Null(sampling.ModelId); // the caller's options are not changed
        Assert.Equal(sampled.Answer, (await AskAsync(h, chat, sampling)).Answer);

        var extractive = await AskAsync(h, null, new ChatOptions());
        Assert.Equal(("extractive", new AskUsage(0, 0, 0), "stop"), (extractive.Mode, extractive.Usage, extractive.FinishReason));
        var tooFew = await Assert.ThrowsAsync<HostingException>(() => AskAsync(h, chat, new ChatOptions { MaxOutputTokens = 0 }));
        Assert.Equal((HostingFailure.Invalid, "maxTokens"), (tooFew.Failure, tooFew.Field));
    }

    private static async Task<AskResult> AskAsync(HostedServices h, IChatClient? chat, ChatOptions generation)
    {
        AskResult? final = null;
        var text = new StringBuilder();
        await foreach (var u in h.Collections.AskAsync("docs", "How long do cats sleep?", 1, null, chat, chat is null ? null : "stories260K", generation, CancellationToken.None))
        {
            text.Append(u.Delta);
            final ??= u.Final;
        }
        Assert.NotNull(final);
        Assert.Equal(final.Answer, text.ToString().Trim());
        return final;
    }

    [Fact]
    public async Task A_changed_file_is_reingested_and_a_stale_passage_falls_back_to_the_chunk()
    {
        await using var h = await HostedServices.StartAsync();
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        await IngestAsync(h, "docs", "pets.md", Pets);
        var hit = (await h.Collections.SearchAsync("docs", "bark strangers", 1, null, CancellationToken.None)).Passages[0];
        // The file changes on disk without being ingested: the stored offsets no longer point at the passage.
        File.WriteAllText(Path.Combine(h.Collections.UploadFolder("docs"), "pets.md"), "# Birds\n\nBirds sing.\n");
        var stale = await h.Collections.PassageAsync("docs", hit.ChunkId, CancellationToken.None);
        Assert.False(stale.WholeDocument);
        Assert.Equal(hit.Text, stale.Text);

        var again = await IngestAsync(h, "docs", "pets.md", "# Birds\n\nBirds sing at dawn.\n");
        Assert.Equal(1, again.Updated);
        Assert.Empty((await h.Collections.SearchAsync("docs", "bark strangers", 1, null, CancellationToken.None)).Passages);
    }

    [Fact]
    public async Task Unsupported_uploads_and_bad_queries_are_refused_with_the_field()
    {
        await using var h = await HostedServices.StartAsync();
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        var type = await Assert.ThrowsAsync<HostingException>(() => h.Collections.SaveUploadAsync("docs", "../../x", Text("x"), CancellationToken.None));
        Assert.Equal((HostingFailure.Invalid, "file"), (type.Failure, type.Field));
        Assert.Contains(".md", type.Message);
        Assert.False(Directory.Exists(Path.Combine(h.Root, "x")) || File.Exists(Path.Combine(h.Root, "x")));
        Assert.False(Directory.Exists(h.Collections.UploadFolder("docs")) && Directory.EnumerateFileSystemEntries(h.Collections.UploadFolder("docs")).Any());

        var empty = await Assert.ThrowsAsync<HostingException>(() => h.Collections.SearchAsync("docs", " ", 5, null, CancellationToken.None));
        Assert.Equal("query", empty.Field);
        var k = await Assert.ThrowsAsync<HostingException>(() => h.Collections.SearchAsync("docs", "cats", 0, null, CancellationToken.None));
        Assert.Equal("k", k.Field);
        var missing = await Assert.ThrowsAsync<HostingException>(() => h.Collections.SaveUploadAsync("nope", "a.md", Text("x"), CancellationToken.None));
        Assert.Equal(HostingFailure.NotFound, missing.Failure);
    }

    [Fact]
    public async Task A_collection_is_not_deleted_while_an_ingestion_job_works_on_it()
    {
        await using var h = await HostedServices.StartAsync(o => o.MaxConcurrentJobs = 1);
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        // Hold the only worker so the ingestion job stays queued.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = h.Jobs.Enqueue("test", "hold", null, async (_, _) => { await gate.Task; return null; });
        var ingest = h.Collections.StartIngest("docs");
        var e = Assert.Throws<HostingException>(() => h.Collections.Delete("docs"));
        Assert.Equal(HostingFailure.Conflict, e.Failure);
        gate.SetResult();
        await JobQueueTests.FinalAsync(blocker);
        await JobQueueTests.FinalAsync(ingest);
        h.Collections.Delete("docs");
    }

    [Fact]
    public async Task With_an_embedding_model_chunks_are_embedded_and_search_is_hybrid_by_default()
    {
        await using var h = await HostedServices.StartAsync(o => o.EmbeddingModel = RagTune.TestKit.TinyModels.Embedding());
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        await h.Collections.SaveUploadAsync("docs", "a.txt", Text("w200 w201 w202 w203"), CancellationToken.None);
        await IngestAsync(h, "docs", "b.txt", "w300 w301 w302 w303");
        var stats = await h.Collections.StatsAsync("docs", CancellationToken.None);
        Assert.Equal((2, 2), (stats.Chunks, stats.EmbeddedChunks));
        Assert.NotNull(stats.EmbeddingModel);

        Assert.All((await h.Collections.SearchAsync("docs", "w300 w301", 2, null, CancellationToken.None)).Passages, hit => Assert.Equal("hybrid", hit.Retriever));
        var dense = (await h.Collections.SearchAsync("docs", "w300 w301", 2, "dense", CancellationToken.None)).Passages;
        Assert.Equal(["a.txt", "b.txt"], dense.Select(d => d.DocumentId).Order());
        Assert.All(dense, hit => Assert.Equal("dense", hit.Retriever));
        var bm25 = Assert.Single((await h.Collections.SearchAsync("docs", "w300", 2, "bm25", CancellationToken.None)).Passages);
        Assert.Equal("b.txt", bm25.DocumentId);
        var unknown = await Assert.ThrowsAsync<HostingException>(() => h.Collections.SearchAsync("docs", "w300", 2, "fuzzy", CancellationToken.None));
        Assert.Equal("mode", unknown.Field);
    }

    [Fact]
    public async Task Dense_search_without_an_embedding_model_says_how_to_get_one()
    {
        await using var h = await HostedServices.StartAsync();
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        var e = await Assert.ThrowsAsync<HostingException>(() => h.Collections.SearchAsync("docs", "cats", 2, "hybrid", CancellationToken.None));
        Assert.Equal(("mode", HostingFailure.Invalid), (e.Field, e.Failure));
        Assert.Contains("--embed-model", e.Message);
    }
}
