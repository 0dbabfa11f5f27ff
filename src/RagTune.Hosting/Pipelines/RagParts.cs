using Microsoft.Extensions.AI;
using RagTune.Hosting.Stores;
using RagTune.Models.Downloads;
using RagTune.Models.Embeddings;
using RagTune.Models.Remote;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Pipelines;

/// <summary>The retrieval parts a setting names: an embedding generator (local or remote) and a cross-encoder reranker.</summary>
public static class RagParts
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
        return forQueries ? local.ForQueriesOwned() : local;
    }

    /// <summary>
    /// <paramref name="passages"/> behind the chunk-vector cache when it is a local model (its vectors are known by
    /// <see cref="LocalEmbeddingGenerator.VectorCacheKey"/>: weights sha256 and settings), so texts embedded before by
    /// the same model are not embedded again; remote generators and null pass through. The cache lives in
    /// <c>&lt;data-dir&gt;/vector-cache/</c>. Disposing the result disposes <paramref name="passages"/> when <paramref name="ownsInner"/>.
    /// </summary>
    public static IEmbeddingGenerator<string, Embedding<float>>? WithVectorCache(IEmbeddingGenerator<string, Embedding<float>>? passages, string? dataDir, bool ownsInner = true)
    {
        if (passages is not LocalEmbeddingGenerator local) return passages;
        var folder = Path.Combine(RagTuneDataDirectory.Resolve(dataDir), "vector-cache");
        return new CachingEmbeddingGenerator(local, CollectionStores.VectorCache(folder, local.VectorCacheKey), ownsInner);
    }

    /// <summary>
    /// The local model a collection was embedded with, loaded for queries when it is in the model cache: the recorded
    /// id is <c>name@sha</c> (<see cref="LocalEmbeddingGenerator.ModelId"/>), so the cached model of that name is loaded
    /// and kept only when its weights hash the same. Null when the collection has no vectors or the model is not cached.
    /// </summary>
    public static IEmbeddingGenerator<string, Embedding<float>>? RecordedEmbedder(string? recordedModelId)
    {
        if (recordedModelId is not { } id || id.IndexOf('@') is not (> 0 and var at)) return null;
        string path;
        try
        {
            path = ModelResolver.Resolve(id[..at]);
        }
        catch (Exception e) when (e is FileNotFoundException or ArgumentException)
        {
            return null;
        }
        LocalEmbeddingGenerator local;
        try
        {
            local = LocalEmbeddingGenerator.Load(path);
        }
        catch (IOException)
        {
            return null; // not an embedding model folder (a chat model of the same name): stay with BM25
        }
        if (local.ModelId == id) return local.ForQueriesOwned();
        local.Dispose();
        return null;
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
