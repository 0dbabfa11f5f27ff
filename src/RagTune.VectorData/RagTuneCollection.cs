using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.VectorData;

/// <summary>
/// One RagTune collection as a <see cref="VectorStoreCollection{TKey, TRecord}"/>: vector search
/// (exact cosine), LINQ filters on metadata (equality joined by <c>&amp;&amp;</c>; anything else is a
/// <see cref="NotSupportedException"/> naming the expression) and keyword hybrid search through RagTune's retriever
/// (BM25 and dense fused as the retriever's defaults say). Vectors are not read back (<c>IncludeVectors</c> is refused).
/// </summary>
/// <typeparam name="TKey">string: the document id.</typeparam>
/// <typeparam name="TRecord">The record type; see the mapping on <see cref="RagTuneVectorStore"/>.</typeparam>
public sealed class RagTuneCollection<TKey, TRecord> : VectorStoreCollection<TKey, TRecord>, IKeywordHybridSearchable<TRecord>
    where TKey : notnull
    where TRecord : class
{
    private readonly ICollectionCatalog _catalog;
    private readonly RecordModel _model;
    private readonly object _lock = new();
    private ICollectionStore? _store;

    internal RagTuneCollection(string name, ICollectionCatalog catalog, RecordModel model)
    {
        CollectionNames.Validate(name);
        Name = name;
        _catalog = catalog;
        _model = model;
    }

    /// <inheritdoc />
    public override string Name { get; }

    /// <inheritdoc />
    public override Task<bool> CollectionExistsAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(_catalog.Exists(Name));

    /// <inheritdoc />
    public override Task EnsureCollectionExistsAsync(CancellationToken cancellationToken = default)
    {
        Store(create: true);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            _store?.Dispose();
            _store = null;
        }
        _catalog.Delete(Name);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override async Task<TRecord?> GetAsync(TKey key, RecordRetrievalOptions? options = null, CancellationToken cancellationToken = default)
    {
        await foreach (var r in GetAsync([key], options, cancellationToken).ConfigureAwait(false)) return r;
        return null;
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<TRecord> GetAsync(IEnumerable<TKey> keys, RecordRetrievalOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        RefuseVectors(options?.IncludeVectors == true);
        var wanted = keys.Select(k => RecordModel.KeyString(k)).ToHashSet(StringComparer.Ordinal);
        if (wanted.Count == 0 || Store(create: false) is not { } store) yield break;
        foreach (var chunk in await store.GetAllChunksAsync(cancellationToken).ConfigureAwait(false))
            if (wanted.Contains(RecordModel.KeyOf(chunk))) yield return _model.ToRecord<TRecord>(chunk);
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<TRecord> GetAsync(Expression<Func<TRecord, bool>> filter, int top, FilteredRecordRetrievalOptions<TRecord>? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        RefuseVectors(options?.IncludeVectors == true);
        if (options?.OrderBy is not null) throw new NotSupportedException("RagTune collections return filtered records in document order; OrderBy is not supported.");
        if (FilterTranslator.Translate(filter, _model) is not { } f || Store(create: false) is not { } store) yield break;
        var matching = await MatchingAsync(store, f, cancellationToken).ConfigureAwait(false);
        foreach (var chunk in matching.Skip(options?.Skip ?? 0).Take(top)) yield return _model.ToRecord<TRecord>(chunk);
    }

    /// <inheritdoc />
    public override Task DeleteAsync(TKey key, CancellationToken cancellationToken = default) => DeleteAsync([key], cancellationToken);

    /// <inheritdoc />
    public override async Task DeleteAsync(IEnumerable<TKey> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var ids = keys.Select(k => RecordModel.KeyString(k)).ToList();
        foreach (var id in ids)
            if (id.Contains('#', StringComparison.Ordinal) && Store(create: false) is { } s && !(await s.GetDocumentStatesAsync(cancellationToken).ConfigureAwait(false)).ContainsKey(id))
                throw new NotSupportedException($"'{id}' names one chunk of an ingested document; delete whole documents (key '{id[..id.LastIndexOf('#')]}').");
        if (ids.Count > 0 && Store(create: false) is { } store) await store.DeleteDocumentsAsync(ids, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override Task UpsertAsync(TRecord record, CancellationToken cancellationToken = default) => UpsertAsync([record], cancellationToken);

    /// <inheritdoc />
    public override async Task UpsertAsync(IEnumerable<TRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var writes = new List<DocumentWrite>();
        int? dimensions = null;
        foreach (var r in records)
        {
            ArgumentNullException.ThrowIfNull(r, nameof(records));
            var (write, vector) = await _model.ToWriteAsync(r, cancellationToken).ConfigureAwait(false);
            if (vector is not null)
            {
                if (dimensions is { } d && d != vector.Length)
                    throw new ArgumentException($"Record '{write.Document.Id}' has a {vector.Length}-dimensional vector; the others in this batch have {d}.", nameof(records));
                dimensions = vector.Length;
            }
            writes.Add(write);
        }
        if (writes.Count == 0) return;
        var store = Store(create: true)!;
        if (dimensions is { } dims && writes.Any(w => w.Embeddings is null))
            throw new ArgumentException("Every record of a batch needs its vector once one has it (a RagTune collection is searched by one embedding model).", nameof(records));
        await store.WriteBatchAsync(writes, dimensions is { } n ? EmbeddingOf(store, n) : null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<VectorSearchResult<TRecord>> SearchAsync<TInput>(TInput searchValue, int top, VectorSearchOptions<TRecord>? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(searchValue);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        options ??= new VectorSearchOptions<TRecord>();
        RefuseVectors(options.IncludeVectors);
        var property = _model.Model.GetVectorPropertyOrSingle(options);
        var vector = await RecordModel.VectorOfAsync(property, searchValue, cancellationToken).ConfigureAwait(false);
        if (FilterTranslator.Translate(options.Filter, _model) is not { } filter || Store(create: false) is not { } store) yield break;
        var hits = await store.SearchVectorAsync(vector, top + options.Skip, filter, cancellationToken).ConfigureAwait(false);
        foreach (var hit in hits.Skip(options.Skip))
            if (options.ScoreThreshold is not { } min || hit.Score >= min)
                yield return new VectorSearchResult<TRecord>(_model.ToRecord<TRecord>(hit.Chunk), hit.Score);
    }

    /// <summary>
    /// BM25 over <paramref name="keywords"/> and cosine search for <paramref name="searchValue"/>, fused by reciprocal
    /// rank as RagTune's own hybrid retrieval does (scores are fused rank scores, comparable within one query).
    /// </summary>
    public async IAsyncEnumerable<VectorSearchResult<TRecord>> HybridSearchAsync<TInput>(TInput searchValue, ICollection<string> keywords, int top,
        HybridSearchOptions<TRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        where TInput : notnull
    {
        ArgumentNullException.ThrowIfNull(searchValue);
        ArgumentNullException.ThrowIfNull(keywords);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        options ??= new HybridSearchOptions<TRecord>();
        RefuseVectors(options.IncludeVectors);
        if (options.AdditionalProperty is not null && _model.Model.GetFullTextDataPropertyOrSingle(options.AdditionalProperty) != _model.Text)
            throw new NotSupportedException($"Keywords search the chunk text '{_model.Text.ModelName}', the one full-text column of a RagTune collection.");
        var property = _model.Model.GetVectorPropertyOrSingle(new VectorSearchOptions<TRecord> { VectorProperty = options.VectorProperty });
        var vector = await RecordModel.VectorOfAsync(property, searchValue, cancellationToken).ConfigureAwait(false);
        if (FilterTranslator.Translate(options.Filter, _model) is not { } filter || Store(create: false) is not { } store) yield break;
        var query = string.Join(' ', keywords);
        using var queryVector = new QueryVector(vector, store.Embedding?.ModelId);
        var retriever = new Retriever(store, queryVector, new RetrieverOptions());
        var hits = await retriever.SearchAsync(query, SearchMode.Hybrid, top + options.Skip, filter, cancellationToken).ConfigureAwait(false);
        if (hits.Count == 0 && string.IsNullOrWhiteSpace(query)) // the retriever answers a blank query with nothing: dense alone
            hits = await store.SearchVectorAsync(vector, top + options.Skip, filter, cancellationToken).ConfigureAwait(false);
        foreach (var hit in hits.Skip(options.Skip))
            if (options.ScoreThreshold is not { } min || hit.Score >= min)
                yield return new VectorSearchResult<TRecord>(_model.ToRecord<TRecord>(hit.Chunk), hit.Score);
    }

    /// <inheritdoc />
    public override object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(VectorStoreCollectionMetadata))
            return new VectorStoreCollectionMetadata { VectorStoreSystemName = RagTuneCollectionMetadata.SystemName, CollectionName = Name };
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            lock (_lock)
            {
                _store?.Dispose();
                _store = null;
            }
        base.Dispose(disposing);
    }

    // Vectors a caller upserts are taken as the collection's model's (dimensions checked by the store).
    private static EmbeddingInfo EmbeddingOf(IChunkStore store, int dimensions) =>
        store.Embedding is { } stored && stored.Dimensions == dimensions ? stored : store.Embedding ?? new EmbeddingInfo($"external-{dimensions}d", dimensions);

    private static async Task<IReadOnlyList<StoredChunk>> MatchingAsync(IChunkStore store, SearchFilter filter, CancellationToken ct)
    {
        var all = await store.GetAllChunksAsync(ct).ConfigureAwait(false);
        return [.. all.Where(c => filter.Conditions.All(kv => c.Metadata.TryGetValue(kv.Key, out var v) && v == kv.Value))];
    }

    private static void RefuseVectors(bool include)
    {
        if (include) throw new NotSupportedException("RagTune collections do not read vectors back (IncludeVectors): they are kept normalised for search.");
    }

    // The collection's store, opened once; null when it does not exist and create is false.
    private ICollectionStore? Store(bool create)
    {
        lock (_lock)
        {
            if (_store is not null) return _store;
            if (!create && !_catalog.Exists(Name)) return null;
            return _store = _catalog.Open(Name, create: true);
        }
    }
}
