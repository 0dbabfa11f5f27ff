using Microsoft.Extensions.AI;

namespace RagTune.VectorData;

/// <summary>
/// A query vector the caller already has, offered to RagTune's <c>Retriever</c> as its embedding model, so hybrid
/// search runs the retriever's own fusion (and its checks) on the caller's vector.
/// </summary>
internal sealed class QueryVector(float[] vector, string? modelId) : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly EmbeddingGeneratorMetadata _metadata = new("ragtune.vectordata.query", defaultModelId: modelId, defaultModelDimensions: vector.Length);

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var _ in values) result.Add(new Embedding<float>(vector) { ModelId = modelId });
        return Task.FromResult(result);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata : null;

    public void Dispose()
    {
    }
}
