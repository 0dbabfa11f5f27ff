using Microsoft.Extensions.AI;

namespace RagTune.Samples.VectorSearch;

/// <summary>
/// A stand-in embedding model so the sample runs offline in milliseconds: lower-cased words (and their 4-letter
/// prefixes, so "refund" meets "refunds") hashed into a fixed number of buckets. A real application passes its
/// model here (an OpenAI or Ollama <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>, or RagTune's own encoder).
/// </summary>
public sealed class WordHashEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>The vectors' length.</summary>
    public const int Dimensions = 128;

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var text in values)
        {
            var v = new float[Dimensions];
            foreach (var word in text.ToLowerInvariant().Split([' ', '.', ',', ';', ':', '?', '!', '\''], StringSplitOptions.RemoveEmptyEntries))
            {
                v[Bucket(word)] += 1;
                if (word.Length > 4) v[Bucket(word[..4])] += 0.5f;
            }
            result.Add(new Embedding<float>(v) { ModelId = "word-hash-128" });
        }
        return Task.FromResult(result);
    }

    // FNV-1a: stable across processes, unlike string.GetHashCode.
    private static int Bucket(string word)
    {
        uint h = 2166136261;
        foreach (char c in word) h = (h ^ c) * 16777619;
        return (int)(h % Dimensions);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("word-hash", defaultModelId: "word-hash-128", defaultModelDimensions: Dimensions)
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
