using Microsoft.Extensions.AI;
using RagTune.Models.Downloads;
using RagTune.Models.Embeddings;
using RagTune.Models.Remote;

namespace RagTune.Hosting.Pipelines;

/// <summary>The retrieval parts a setting names: an embedding generator (local or remote) and a cross-encoder reranker.</summary>
internal static class RagParts
{
    /// <summary>
    /// The embedding generator: remote when <paramref name="url"/> is given (model name <paramref name="model"/>,
    /// default "default"), else local when <paramref name="model"/> is given (run on our engine;
    /// <paramref name="forQueries"/> applies the family's query prefix), else null (BM25 only).
    /// </summary>
    public static IEmbeddingGenerator<string, Embedding<float>>? Embedder(string? url, string? model, string? apiKey, bool forQueries = false)
    {
        if (url != null) return new OpenAICompatibleEmbeddingGenerator(ParseUrl(url, "--embed-remote"), model ?? "default", apiKey);
        if (model == null) return null;
        var local = LocalEmbeddingGenerator.Load(ModelResolver.Resolve(model));
        return forQueries ? local.ForQueries() : local;
    }

    /// <summary>The cross-encoder reranker scoring the first <paramref name="top"/> candidates, or null without a model.</summary>
    public static CrossEncoderReranker? Reranker(string? model, int top)
    {
        if (model == null) return null;
        if (top < 1) throw HostingException.Invalid("--rerank-top must be at least 1.", "rerankTop");
        return new CrossEncoderReranker(LocalCrossEncoder.Load(ModelResolver.Resolve(model)), top);
    }

    /// <summary>An http(s) API root; anything else is refused naming <paramref name="setting"/>.</summary>
    public static Uri ParseUrl(string url, string setting) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw HostingException.Invalid($"{setting}: '{url}' is not an http(s) URL; pass the API root, e.g. http://127.0.0.1:8080/v1.", setting);
}
