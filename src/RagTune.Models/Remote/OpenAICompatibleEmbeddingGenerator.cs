using Microsoft.Extensions.AI;
using OpenAI.Embeddings;
using AIEmbeddingOptions = Microsoft.Extensions.AI.EmbeddingGenerationOptions;
using OpenAIEmbeddingOptions = OpenAI.Embeddings.EmbeddingGenerationOptions;

namespace RagTune.Models.Remote;

/// <summary>
/// An <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over any OpenAI-compatible <c>/embeddings</c> endpoint
/// (vLLM, TEI, llama.cpp server with --embeddings, Ollama, OpenAI), through the official OpenAI .NET client.
/// Inputs are sent in batches of <see cref="OpenAICompatibleClientOptions.EmbeddingBatchSize"/>; results keep input order.
/// </summary>
public sealed class OpenAICompatibleEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private const string EmbeddingsPath = "/embeddings";
    private readonly OpenAIEndpoint _endpoint;
    private readonly OpenAICompatibleClientOptions _options;
    private readonly EmbeddingClient _client;
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Creates a generator for <paramref name="model"/> at <paramref name="baseUrl"/>.</summary>
    /// <param name="baseUrl">The API root, e.g. <c>http://127.0.0.1:8080/v1</c>.</param>
    /// <param name="model">The embedding model name the server knows.</param>
    /// <param name="apiKey">Bearer key; null sends a placeholder, which local servers ignore.</param>
    /// <param name="options">Batch size, dimensions, retries, timeout; null uses the defaults.</param>
    public OpenAICompatibleEmbeddingGenerator(Uri baseUrl, string model, string? apiKey = null, OpenAICompatibleClientOptions? options = null)
    {
        _options = options ?? new OpenAICompatibleClientOptions();
        _endpoint = new OpenAIEndpoint(baseUrl, model, apiKey, _options);
        _client = _endpoint.Client.GetEmbeddingClient(model);
        _metadata = new EmbeddingGeneratorMetadata("openai-compatible", baseUrl, model, _options.EmbeddingDimensions);
    }

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, AIEmbeddingOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var inputs = values.ToList();
        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Count);
        if (inputs.Count == 0) return result;

        var model = options?.ModelId is { Length: > 0 } id ? id : _endpoint.Model;
        var client = model == _endpoint.Model ? _client : _endpoint.Client.GetEmbeddingClient(model);
        var request = new OpenAIEmbeddingOptions { Dimensions = options?.Dimensions ?? _options.EmbeddingDimensions };
        long inputTokens = 0, totalTokens = 0;
        for (int start = 0; start < inputs.Count; start += _options.EmbeddingBatchSize)
        {
            var batch = inputs.GetRange(start, Math.Min(_options.EmbeddingBatchSize, inputs.Count - start));
            OpenAIEmbeddingCollection collection;
            try
            {
                collection = (await client.GenerateEmbeddingsAsync(batch, request, cancellationToken).ConfigureAwait(false)).Value;
            }
            catch (Exception e) when (_endpoint.Translate(e, EmbeddingsPath, model, cancellationToken) is { } translated)
            {
                throw translated;
            }
            if (collection.Count != batch.Count)
            {
                var url = _endpoint.Url(EmbeddingsPath);
                throw new RemoteModelException($"{url} returned {collection.Count} embeddings for {batch.Count} inputs.", url, 200);
            }
            // The server may answer out of order; each item carries the index of its input.
            foreach (var item in collection.OrderBy(e => e.Index))
                result.Add(new Embedding<float>(item.ToFloats()) { ModelId = collection.Model, CreatedAt = DateTimeOffset.UtcNow });
            if (collection.Usage is { } u)
            {
                inputTokens += u.InputTokenCount;
                totalTokens += u.TotalTokenCount;
            }
        }
        result.Usage = new UsageDetails { InputTokenCount = inputTokens, TotalTokenCount = totalTokens };
        return result;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType == typeof(EmbeddingClient)) return _client;
        if (serviceType.IsInstanceOfType(this)) return this;
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // The OpenAI client shares a static HttpClient; nothing of ours to release.
    }
}
