using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;

namespace RagTune.Hosting.Middleware;

/// <summary>
/// How the server, the CLI and the comparison wrap their chat clients and embedding generators in the standard
/// Microsoft.Extensions.AI middleware. Defaults documented per property; <see cref="Validate"/> runs at composition.
/// </summary>
public sealed record ClientMiddlewareOptions
{
    /// <summary>The default activity source and meter name of the GenAI spans and metrics.</summary>
    public const string DefaultSourceName = "RagTune";

    /// <summary>
    /// Name of the <see cref="System.Diagnostics.ActivitySource"/> and <see cref="System.Diagnostics.Metrics.Meter"/> the
    /// OpenTelemetry middleware writes to (<c>chat {model}</c> / <c>embeddings {model}</c> spans with <c>gen_ai.*</c>
    /// tags, <c>gen_ai.client.*</c> metrics). Default <see cref="DefaultSourceName"/>; the server uses its own source.
    /// </summary>
    public string SourceName { get; init; } = DefaultSourceName;

    /// <summary>Loggers for <c>UseLogging</c> (request and response at Debug/Trace, failures at Error). Null: no logging middleware.</summary>
    public ILoggerFactory? Loggers { get; init; }

    /// <summary>
    /// A folder for <c>UseDistributedCache</c>: responses and embeddings are kept there by a hash of the request
    /// (messages, options and <see cref="CacheKey"/>), so a repeated evaluation run replays the same answers instead of
    /// generating again. Null (default): no cache. Delete the folder to forget it.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// What identifies the model behind the client in cache keys (e.g. its file hash and adapter), so two models never
    /// share entries. Required when <see cref="CacheDirectory"/> is set.
    /// </summary>
    public IReadOnlyList<string> CacheKey { get; init; } = [];

    /// <summary>Whether spans and logs may carry prompts and answers (<c>EnableSensitiveData</c>). Default false.</summary>
    public bool SensitiveData { get; init; }

    /// <summary>Throws naming the setting and the fix.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(SourceName))
            throw new ArgumentException("ClientMiddlewareOptions.SourceName is blank; name the activity source the GenAI spans go to (default 'RagTune').");
        if (CacheDirectory is { } dir)
        {
            if (string.IsNullOrWhiteSpace(dir)) throw HostingException.Invalid("--cache-dir is blank; name a folder, or leave it out for no response cache.", "cacheDir");
            if (CacheKey.Count == 0)
                throw new ArgumentException("ClientMiddlewareOptions.CacheKey is empty while a cache directory is set; give the model's identity (file hash, adapter) so models never share cached answers.");
        }
    }
}

/// <summary>
/// Composes clients with <see cref="ChatClientBuilder"/> / <see cref="EmbeddingGeneratorBuilder{TInput, TEmbedding}"/>:
/// OpenTelemetry outermost (its span also covers a cache hit), then logging, then the distributed cache. The engine
/// stays reachable through <c>GetService&lt;LocalChatClient&gt;()</c> on the result.
/// </summary>
public static class ClientMiddleware
{
    /// <paramref name="inner"/> wrapped in the middleware <paramref name="options"/> ask for (validated).
    public static IChatClient Chat(IChatClient inner, ClientMiddlewareOptions options)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = inner.AsBuilder().UseOpenTelemetry(options.Loggers, options.SourceName, o => o.EnableSensitiveData = options.SensitiveData);
        if (options.Loggers is { } loggers) builder.UseLogging(loggers);
        if (options.CacheDirectory is { } dir) builder.UseDistributedCache(new FileDistributedCache(dir), c => c.CacheKeyAdditionalValues = options.CacheKey);
        return builder.Build();
    }

    /// <paramref name="inner"/> wrapped in the middleware <paramref name="options"/> ask for (validated).
    public static IEmbeddingGenerator<string, Embedding<float>> Embeddings(IEmbeddingGenerator<string, Embedding<float>> inner, ClientMiddlewareOptions options)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = inner.AsBuilder().UseOpenTelemetry(options.Loggers, options.SourceName, o => o.EnableSensitiveData = options.SensitiveData);
        if (options.Loggers is { } loggers) builder.UseLogging(loggers);
        if (options.CacheDirectory is { } dir) builder.UseDistributedCache(new FileDistributedCache(dir), c => c.CacheKeyAdditionalValues = options.CacheKey);
        return builder.Build();
    }
}
