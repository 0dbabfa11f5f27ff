using System.Text;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Jobs;
using RagTune.Hosting.Pipelines;
using RagTune.Hosting.Tests.Jobs;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Tests.Pipelines;

/// <summary>
/// The CLI (<see cref="RagPipeline"/>) and the server (<see cref="CollectionService"/>) search and answer through one
/// <see cref="RagService"/>: over the same collection they return the same records, and differ only where the
/// server hides paths.
/// </summary>
public sealed class RagServiceTests
{
    private const string Pets = "# Cats\n\nCats sleep sixteen hours a day. They purr when they are content.\n\n# Dogs\n\nDogs bark at strangers and love long walks in the park.\n";
    private const string Birds = "# Parrots\n\nParrots can live for eighty years and learn many words.\n";

    [Fact]
    public async Task The_cli_pipeline_and_the_server_return_the_same_search_and_answer_records()
    {
        await using var h = await HostedServices.StartAsync();
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        await h.Collections.SaveUploadAsync("docs", "pets.md", new MemoryStream(Encoding.UTF8.GetBytes(Pets)), CancellationToken.None);
        await h.Collections.SaveUploadAsync("docs", "birds.md", new MemoryStream(Encoding.UTF8.GetBytes(Birds)), CancellationToken.None);
        var job = await JobQueueTests.FinalAsync(h.Collections.StartIngest("docs"));
        Assert.True(job.State == JobState.Succeeded, job.Error);

        var server = await h.Collections.SearchAsync("docs", "how long do cats sleep", 3, null, CancellationToken.None);
        using var cli = RagPipeline.Open(new RagPipelineOptions { Collection = "docs", DataDir = h.DataDir }, withChat: false);
        var hits = await cli.SearchAsync("how long do cats sleep", null, 3, SearchFilter.None, CancellationToken.None);
        var local = cli.Results(hits);

        Assert.Equal(("docs", "bm25"), (server.Collection, server.Mode));
        Assert.Equal(SearchMode.Bm25, cli.DefaultMode);
        Assert.NotEmpty(local);
        // The same hits in the same order with the same scores; the server names the document where the CLI shows its path.
        Assert.Equal(Json(local.Select(r => r with { Source = r.DocumentId })), Json(server.Passages));
        Assert.All(local, r => Assert.EndsWith(r.DocumentId, r.Source.Replace('\\', '/')));
        Assert.All(server.Passages, r => Assert.DoesNotContain(Path.DirectorySeparatorChar, r.Source));

        AskResult? viaServer = null, viaCli = null;
        await foreach (var u in h.Collections.AskAsync("docs", "How long do cats sleep?", 3, null, null, null, new ChatOptions { MaxOutputTokens = 64 }, CancellationToken.None))
            viaServer ??= u.Final;
        var askHits = await cli.SearchAsync("How long do cats sleep?", null, 3, SearchFilter.None, CancellationToken.None);
        await foreach (var u in cli.AnswerAsync("How long do cats sleep?", askHits, 3, 64, CancellationToken.None))
            viaCli ??= u.Final;

        Assert.NotNull(viaServer);
        Assert.NotNull(viaCli);
        Assert.Equal("extractive", viaCli.Mode);
        Assert.Contains("sixteen hours", viaCli.Answer);
        Assert.NotEmpty(viaCli.Citations);
        Assert.Equal(viaCli.Citations, viaCli.Sources.Where(s => s.Cited).Select(s => s.Number));
        Assert.Equal((viaCli.Answer, viaCli.Mode, viaCli.Abstained, viaCli.FinishReason, viaCli.Usage), (viaServer.Answer, viaServer.Mode, viaServer.Abstained, viaServer.FinishReason, viaServer.Usage));
        Assert.Equal(viaCli.Citations, viaServer.Citations);
        Assert.Equal(viaCli.Sentences.Select(s => (s.Text, string.Join(",", s.Citations), s.Support)), viaServer.Sentences.Select(s => (s.Text, string.Join(",", s.Citations), s.Support)));
        Assert.Equal(Json(viaCli.Sources.Select(s => s with { Source = s.DocumentId })), Json(viaServer.Sources));
    }

    // Records holding lists compare by reference; their JSON compares every field by value.
    private static string Json<T>(IEnumerable<T> rows) => System.Text.Json.JsonSerializer.Serialize(rows.ToList());

    [Fact]
    public async Task Dense_search_without_an_embedding_model_names_the_front_end_s_way_to_give_one()
    {
        await using var h = await HostedServices.StartAsync();
        await h.Collections.CreateAsync("docs", CancellationToken.None);
        var server = await Assert.ThrowsAsync<HostingException>(() => h.Collections.SearchAsync("docs", "cats", 2, "dense", CancellationToken.None));
        Assert.Contains("--embed-model (RagTune:EmbeddingModel)", server.Message);
        Assert.Equal("mode", server.Field);

        using var cli = RagPipeline.Open(new RagPipelineOptions { Collection = "docs", DataDir = h.DataDir }, withChat: false);
        var local = await Assert.ThrowsAsync<HostingException>(() => cli.SearchAsync("cats", SearchMode.Dense, 2, SearchFilter.None, CancellationToken.None));
        Assert.Contains("--embed-model <model> or --embed-remote <url>", local.Message);
        Assert.Contains("--mode bm25", local.Message);
    }
}
