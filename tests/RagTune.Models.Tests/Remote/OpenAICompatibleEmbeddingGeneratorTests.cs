using RagTune.TestKit.Http;
using Microsoft.Extensions.AI;
using RagTune.Models.Remote;

namespace RagTune.Models.Tests.Remote;

public sealed class OpenAICompatibleEmbeddingGeneratorTests
{
    [Fact]
    public async Task Embeds_in_batches_keeping_input_order()
    {
        await using var server = new FakeOpenAIServer();
        using var gen = new OpenAICompatibleEmbeddingGenerator(server.BaseUrl, "tiny-embed",
            options: new OpenAICompatibleClientOptions { MaxRetries = 0, EmbeddingBatchSize = 2 });
        string[] inputs = ["a", "bb", "ccc", "dddd", "eeeee"];

        var result = await gen.GenerateAsync(inputs);

        Assert.Equal(5, result.Count);
        for (int i = 0; i < inputs.Length; i++)
            Assert.Equal(FakeOpenAIServer.Vector(inputs[i], 4), result[i].Vector.ToArray());
        Assert.All(result, e => Assert.Equal("tiny-embed", e.ModelId));
        Assert.Equal(5, result.Usage!.InputTokenCount);

        var bodies = server.Bodies("/v1/embeddings").ToList();
        Assert.Equal(3, bodies.Count);
        Assert.All(bodies, b => Assert.Equal("tiny-embed", (string)b["model"]!));
        Assert.Equal(5, bodies.Sum(b => b["input"]!.AsArray().Count));
    }

    [Fact]
    public async Task Passes_dimensions_and_reports_metadata()
    {
        await using var server = new FakeOpenAIServer();
        using var gen = new OpenAICompatibleEmbeddingGenerator(server.BaseUrl, "tiny-embed",
            options: new OpenAICompatibleClientOptions { MaxRetries = 0, EmbeddingDimensions = 3 });
        var meta = gen.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal("tiny-embed", meta.DefaultModelId);
        Assert.Equal(3, meta.DefaultModelDimensions);
        Assert.Equal(server.BaseUrl, meta.ProviderUri);

        var one = await gen.GenerateVectorAsync("hello");
        Assert.Equal(3, one.Length);
        var six = await gen.GenerateAsync(["x"], new EmbeddingGenerationOptions { Dimensions = 6 });
        Assert.Equal(6, six[0].Vector.Length);
        Assert.Equal([3, 6], server.Bodies("/v1/embeddings").Select(b => (int)b["dimensions"]!));
    }

    [Fact]
    public async Task Empty_input_makes_no_request()
    {
        await using var server = new FakeOpenAIServer();
        using var gen = new OpenAICompatibleEmbeddingGenerator(server.BaseUrl, "tiny-embed");
        Assert.Empty(await gen.GenerateAsync([]));
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Errors_name_the_url_and_status()
    {
        await using var server = new FakeOpenAIServer();
        using var unknown = new OpenAICompatibleEmbeddingGenerator(server.BaseUrl, "nope", options: new() { MaxRetries = 0 });
        var e = await Assert.ThrowsAsync<RemoteModelException>(() => unknown.GenerateAsync(["x"]));
        Assert.Equal(404, e.StatusCode);
        Assert.Contains(server.BaseUrl + "/embeddings", e.Message);

        var url = new Uri($"http://127.0.0.1:{LoopbackHttpServer.UnusedPort()}/v1");
        using var down = new OpenAICompatibleEmbeddingGenerator(url, "tiny-embed", options: new() { MaxRetries = 0 });
        var refused = await Assert.ThrowsAsync<RemoteModelException>(() => down.GenerateAsync(["x"]));
        Assert.Contains("is the server running?", refused.Message);
    }
}
