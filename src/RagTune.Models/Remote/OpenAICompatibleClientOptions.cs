namespace RagTune.Models.Remote;

/// <summary>
/// Settings shared by <see cref="OpenAICompatibleChatClient"/> and <see cref="OpenAICompatibleEmbeddingGenerator"/>;
/// defaults are documented per property.
/// </summary>
public sealed class OpenAICompatibleClientOptions
{
    /// <summary>
    /// Retries of a failed request (connection errors, 408, 429, 5xx) with exponential back-off; default 2.
    /// 0 fails at once, which is what tests and interactive "is the server up?" checks want.
    /// </summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>Time one HTTP request may take before it is abandoned; default 10 minutes (long generations on slow servers).</summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most inputs sent in one <c>/embeddings</c> request; larger inputs are split into batches; default 64.</summary>
    public int EmbeddingBatchSize { get; set; } = 64;

    /// <summary>Embedding width to ask for (<c>dimensions</c>), when the server supports shortening; null (default) uses the model's.</summary>
    public int? EmbeddingDimensions { get; set; }

    internal void Validate()
    {
        if (MaxRetries < 0) throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "MaxRetries must be 0 or positive.");
        if (NetworkTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(NetworkTimeout), NetworkTimeout, "NetworkTimeout must be positive.");
        if (EmbeddingBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(EmbeddingBatchSize), EmbeddingBatchSize, "EmbeddingBatchSize must be positive.");
        if (EmbeddingDimensions is < 1) throw new ArgumentOutOfRangeException(nameof(EmbeddingDimensions), EmbeddingDimensions, "EmbeddingDimensions must be positive when set.");
    }
}
