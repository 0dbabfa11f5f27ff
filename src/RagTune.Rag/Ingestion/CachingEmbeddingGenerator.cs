using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;

namespace RagTune.Rag.Ingestion;

/// <summary>
/// Passage vectors of one embedding model, by the sha256 of the exact text embedded. The model's identity (its
/// weights' sha256 and whatever else changes its vectors) is fixed when the cache is opened, so a key is the text hash.
/// </summary>
public interface IVectorCache
{
    /// <summary>The cached vectors of <paramref name="keys"/> (32-byte sha256 each), by position; absent ones are left out.</summary>
    IReadOnlyDictionary<int, float[]> Get(IReadOnlyList<byte[]> keys);

    /// <summary>Stores vectors; a key already there is left as it is.</summary>
    void Put(IReadOnlyList<(byte[] Key, float[] Vector)> entries);
}

/// <summary>
/// Embeds only the texts whose vector is not in the cache, so re-running an ingestion or an evaluation over the
/// same corpus with the same model does not embed everything again. Results keep input order; cached vectors carry
/// the inner generator's model id. Wrap passage embedding only: a query view of the same model embeds the same
/// text differently (prefixes). Disposing it disposes the cache, and the inner generator when <paramref name="ownsInner"/>.
/// </summary>
public sealed class CachingEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, IVectorCache cache, bool ownsInner = true)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    /// <summary>Texts answered from the cache since creation.</summary>
    public long Hits { get; private set; }

    /// <summary>Texts sent to the inner generator since creation.</summary>
    public long Misses { get; private set; }

    /// <inheritdoc />
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions != null) return await base.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
        var texts = values.ToList();
        var keys = texts.Select(t => SHA256.HashData(Encoding.UTF8.GetBytes(t ?? throw new ArgumentException("Inputs must not be null.", nameof(values))))).ToList();
        var cached = cache.Get(keys);
        var missing = Enumerable.Range(0, texts.Count).Where(i => !cached.ContainsKey(i)).ToList();
        Hits += cached.Count;
        Misses += missing.Count;
        var result = new Embedding<float>[texts.Count];
        UsageDetails? usage = null;
        if (missing.Count > 0)
        {
            var fresh = await base.GenerateAsync(missing.Select(i => texts[i]), options, cancellationToken).ConfigureAwait(false);
            if (fresh.Count != missing.Count)
                throw new InvalidOperationException($"The embedding generator returned {fresh.Count} vectors for {missing.Count} texts.");
            var puts = new List<(byte[], float[])>(missing.Count);
            for (int j = 0; j < missing.Count; j++)
            {
                result[missing[j]] = fresh[j];
                puts.Add((keys[missing[j]], fresh[j].Vector.ToArray()));
            }
            cache.Put(puts);
            usage = fresh.Usage;
        }
        var modelId = (GetService(typeof(EmbeddingGeneratorMetadata)) as EmbeddingGeneratorMetadata)?.DefaultModelId;
        foreach (var (i, v) in cached) result[i] = new Embedding<float>(v) { ModelId = modelId };
        return new GeneratedEmbeddings<Embedding<float>>(result) { Usage = usage };
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) (cache as IDisposable)?.Dispose();
        if (ownsInner) base.Dispose(disposing);
    }
}
