using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.VectorData;

/// <summary>Settings of a <see cref="RagTuneVectorStore"/>; validated when the store is created.</summary>
public sealed class RagTuneVectorStoreOptions
{
    /// <summary>
    /// RagTune's data directory: collections are <c>{DataDirectory}/collections/{name}.db</c>, the files
    /// <c>ragtune ingest</c> writes. Default: <c>RAGTUNE_DATA_DIR</c>, else the user's RagTune data folder.
    /// </summary>
    public string? DataDirectory { get; init; }

    /// <summary>
    /// Embeds text for vector properties declared as <see cref="string"/> (on upsert and for text search values);
    /// a collection definition's own generator wins. Null: vectors are given as <c>ReadOnlyMemory&lt;float&gt;</c>.
    /// </summary>
    public IEmbeddingGenerator? EmbeddingGenerator { get; init; }
}

/// <summary>
/// RagTune's SQLite collections as a Microsoft.Extensions.VectorData <see cref="VectorStore"/>, so an application
/// written against the abstraction (Semantic Kernel, Microsoft Agent Framework) reads and searches the collections
/// that <c>ragtune ingest</c> builds: BM25 (SQLite FTS5) plus exact cosine search, fused by the retriever (score fusion by default) for
/// <see cref="IKeywordHybridSearchable{TRecord}.HybridSearchAsync"/>. Keys are strings (document ids).
/// </summary>
public sealed class RagTuneVectorStore : VectorStore
{
    private readonly ICollectionCatalog _catalog;
    private readonly IEmbeddingGenerator? _generator;

    /// <summary>Opens the collections under <see cref="RagTuneVectorStoreOptions.DataDirectory"/>.</summary>
    public RagTuneVectorStore(RagTuneVectorStoreOptions? options = null)
        : this(SqliteCatalog(options ??= new RagTuneVectorStoreOptions()), options.EmbeddingGenerator)
    {
    }

    /// <summary>The collections of <paramref name="catalog"/>, whichever store backs it.</summary>
    internal RagTuneVectorStore(ICollectionCatalog catalog, IEmbeddingGenerator? generator)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        _catalog = catalog;
        _generator = generator;
    }

    // The adapter's one SQLite-specific construction: its public options name a data directory (the files
    // 'ragtune ingest' writes) and this library sits below RagTune.Hosting's store composition, so it builds the
    // SQLite catalog itself; everything else goes through ICollectionCatalog.
    private static ICollectionCatalog SqliteCatalog(RagTuneVectorStoreOptions options)
    {
        if (options.DataDirectory is { } dir && string.IsNullOrWhiteSpace(dir))
            throw new ArgumentException("RagTuneVectorStoreOptions.DataDirectory is blank; leave it null for the default data directory or name a folder.", nameof(options));
        return new SqliteCollections(new SqliteStoreOptions { DataDirectory = options.DataDirectory });
    }

    /// <inheritdoc />
    public override VectorStoreCollection<TKey, TRecord> GetCollection<TKey, TRecord>(string name, VectorStoreCollectionDefinition? definition = null) =>
        new RagTuneCollection<TKey, TRecord>(name, _catalog, RecordModel.Build(typeof(TRecord), typeof(TKey), definition, _generator, dynamic: false));

    /// <inheritdoc />
    public override VectorStoreCollection<object, Dictionary<string, object?>> GetDynamicCollection(string name, VectorStoreCollectionDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return new RagTuneCollection<object, Dictionary<string, object?>>(name, _catalog, RecordModel.Build(typeof(Dictionary<string, object?>), typeof(object), definition, _generator, dynamic: true));
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<string> ListCollectionNamesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var name in _catalog.List())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return name;
        }
    }

    /// <inheritdoc />
    public override Task<bool> CollectionExistsAsync(string name, CancellationToken cancellationToken = default)
    {
        CollectionNames.Validate(name);
        return Task.FromResult(_catalog.Exists(name));
    }

    /// <inheritdoc />
    public override Task EnsureCollectionDeletedAsync(string name, CancellationToken cancellationToken = default)
    {
        CollectionNames.Validate(name);
        _catalog.Delete(name);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(VectorStoreMetadata)) return new VectorStoreMetadata { VectorStoreSystemName = RagTuneCollectionMetadata.SystemName };
        return serviceType.IsInstanceOfType(this) ? this : null;
    }
}

internal static class RagTuneCollectionMetadata
{
    public const string SystemName = "ragtune.sqlite";
}
