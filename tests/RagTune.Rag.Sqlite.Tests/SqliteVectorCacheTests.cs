using Microsoft.Extensions.AI;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Sqlite;
using RagTune.TestKit;

namespace RagTune.Rag.Sqlite.Tests;

/// <summary>The chunk-vector cache: a text embedded once by a model is not embedded again, across processes (files).</summary>
public sealed class SqliteVectorCacheTests
{
    // Deterministic vectors from the text; counts what it was asked to embed.
    private sealed class CountingEmbedder(string modelId) : IEmbeddingGenerator<string, Embedding<float>>
    {
        public List<string> Embedded { get; } = [];

        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var list = values.ToList();
            Embedded.AddRange(list);
            var result = new GeneratedEmbeddings<Embedding<float>>(list.Select(t => new Embedding<float>(new float[] { t.Length, t.Sum(c => c) % 97, 1f }) { ModelId = modelId }))
            {
                Usage = new UsageDetails { InputTokenCount = list.Count },
            };
            return Task.FromResult(result);
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("fake", null, modelId, 3) : null;

        public void Dispose() { }
    }

    [Fact]
    public async Task Cached_texts_are_not_embedded_again_and_results_keep_input_order()
    {
        using var dir = new TempDir();
        var inner = new CountingEmbedder("m@abc");
        using (var first = new CachingEmbeddingGenerator(inner, SqliteVectorCache.Open(dir.Path, "sha-a|Mean|l2|256|")))
            await first.GenerateAsync(["alpha", "beta"]);

        // Reopened (as a second run would): only the new text is embedded; vectors and model id match a fresh embedding.
        using var second = new CachingEmbeddingGenerator(inner, SqliteVectorCache.Open(dir.Path, "sha-a|Mean|l2|256|"));
        var got = await second.GenerateAsync(["gamma", "alpha", "beta", "gamma"]);
        Assert.Equal(["alpha", "beta", "gamma", "gamma"], inner.Embedded);
        // alpha and beta come from the cache; gamma, twice in one call, is a miss both times.
        Assert.Equal((2L, 2L), (second.Hits, second.Misses));
        var fresh = await new CountingEmbedder("m@abc").GenerateAsync(["gamma", "alpha", "beta", "gamma"]);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(fresh[i].Vector.ToArray(), got[i].Vector.ToArray());
            Assert.Equal("m@abc", got[i].ModelId);
        }
    }

    [Fact]
    public async Task Another_model_key_has_its_own_vectors()
    {
        using var dir = new TempDir();
        var inner = new CountingEmbedder("m");
        using (var a = new CachingEmbeddingGenerator(inner, SqliteVectorCache.Open(dir.Path, "weights-1|Mean|l2|256|")))
            await a.GenerateAsync(["alpha"]);
        using (var b = new CachingEmbeddingGenerator(inner, SqliteVectorCache.Open(dir.Path, "weights-1|Cls|l2|256|")))
            await b.GenerateAsync(["alpha"]);
        Assert.Equal(["alpha", "alpha"], inner.Embedded);
        Assert.Equal(2, Directory.GetFiles(dir.Path, "*.db").Length);
    }

    [Fact]
    public void A_cache_file_of_another_model_is_refused_naming_the_file()
    {
        using var dir = new TempDir();
        string path;
        using (var c = SqliteVectorCache.Open(dir.Path, "key-1")) path = c.Path;
        // The file is named by the key: a file under a key's name holding another key's vectors is corrupt, not reusable.
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE meta SET value = 'key-2' WHERE key = 'model'";
            cmd.ExecuteNonQuery();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var e = Assert.Throws<InvalidDataException>(() => SqliteVectorCache.Open(dir.Path, "key-1"));
        Assert.Contains(path, e.Message);
        Assert.Contains("Delete the file", e.Message);
    }
}
