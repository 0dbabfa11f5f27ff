using Microsoft.Extensions.AI;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;
using RagTune.Rag.Tests.Fakes;
using RagTune.TestKit;

namespace RagTune.Rag.Tests.Retrieval;

public sealed class DenseAgreementGateTests
{
    // Ranks texts against BM25: a text with k "alpha" is [1, −k] normalised, so for the query "alpha" (k = 1) the
    // cosine falls as k grows, while BM25 rises with the term frequency. An embedding model that is wrong everywhere.
    private sealed class ContraryEmbedder : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var result = new GeneratedEmbeddings<Embedding<float>>(values.Select(v =>
            {
                float k = v.Split(' ', '\n').Count(w => w == "alpha");
                float norm = MathF.Sqrt(1 + k * k);
                return new Embedding<float>(new[] { 1 / norm, -k / norm }) { ModelId = "contrary" };
            }));
            return Task.FromResult(result);
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("contrary", null, "contrary", 2) : null;

        public void Dispose() { }
    }

    [Fact]
    public async Task A_dense_ranking_that_shares_nothing_with_bm25_cannot_reorder_it_unless_the_gate_is_off()
    {
        using var dir = new TempDir();
        for (int k = 1; k <= 40; k++)
            File.WriteAllText(dir.File($"d{k:00}.txt"), string.Join(' ', Enumerable.Repeat("alpha", k).Concat(Enumerable.Repeat("beta", 40 - k))));
        var embedder = new ContraryEmbedder();
        using var store = new InMemoryChunkStore();
        await new IngestPipeline(store, embedder, new IngestOptions { BaseDirectory = dir.Path }).RunAsync(["."], null, CancellationToken.None);

        async Task<List<string>> Top(SearchMode mode, RetrieverOptions options) =>
            (await new Retriever(store, embedder, options).SearchAsync("alpha", mode, 10, SearchFilter.None, CancellationToken.None)).Select(h => h.Chunk.DocumentId).ToList();
        var bm25 = await Top(SearchMode.Bm25, new RetrieverOptions());
        var dense = await Top(SearchMode.Dense, new RetrieverOptions());
        Assert.Equal("d40.txt", bm25[0]);
        Assert.Empty(bm25.Intersect(dense));

        foreach (var fusion in Enum.GetValues<HybridFusion>())
            Assert.Equal(bm25, await Top(SearchMode.Hybrid, new RetrieverOptions { Fusion = fusion }));
        // Without the gate the contrary ranking gets RRF's full vote and reorders BM25's top ten.
        Assert.NotEqual(bm25, await Top(SearchMode.Hybrid, new RetrieverOptions { Fusion = HybridFusion.Rrf, DenseAgreementDepth = 0 }));
    }

    [Fact]
    public void Gate_settings_are_validated()
    {
        Assert.Contains("DenseAgreementDepth", Assert.Throws<ArgumentException>(() => new RetrieverOptions { DenseAgreementDepth = -1 }.Validate()).Message);
        Assert.Contains("DenseAgreementFloor", Assert.Throws<ArgumentException>(() => new RetrieverOptions { DenseAgreementFloor = 0 }.Validate()).Message);
    }
}
