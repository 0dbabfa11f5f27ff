using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using RagTune.Rag.Sqlite;

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
/// that <c>ragtune ingest</c> builds: BM25 (SQLite FTS5) plus exact cosine search, fused by reciprocal rank for
/// <see cref="IKeywordHybridSearchable{TRecord}.HybridSearchAsync"/>. Keys are strings (document ids).
/// </summary>
public sealed class RagTuneVectorStore : VectorStore
{
    private readonly SqliteStoreOptions _store;
    private readonly IEmbeddingGenerator? _generator;

    /// <summary>Opens the collections under <see cref="RagTuneVectorStoreOptions.DataDirectory"/>.</summary>
    public RagTuneVectorStore(RagTuneVectorStoreOptions? options = null)
    {
        options ??= new RagTuneVectorStoreOptions();
        if (options.DataDirectory is { } dir && string.IsNullOrWhiteSpace(dir))
            throw new ArgumentException("RagTuneVectorStoreOptions.DataDirectory is blank; leave it null for the default data directory or name a folder.", nameof(options));
        _store = new SqliteStoreOptions { DataDirectory = options.DataDirectory };
        _generator = options.EmbeddingGenerator;
    }

    /// <inheritdoc />
    public override VectorStoreCollection<TKey, TRecord> GetCollection<TKey, TRecord>(string name, VectorStoreCollectionDefinition? definition = null) =>
        new RagTuneCollection<TKey, TRecord>(name, _store, RecordModel.Build(typeof(TRecord), typeof(TKey), definition, _generator, dynamic: false));

    /// <inheritdoc />
    public override VectorStoreCollection<object, Dictionary<string, object?>> GetDynamicCollection(string name, VectorStoreCollectionDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return new RagTuneCollection<object, Dictionary<string, object?>>(name, _store, RecordModel.Build(typeof(Dictionary<string, object?>), typeof(object), definition, _generator, dynamic: true));
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<string> ListCollectionNamesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var name in new SqliteCollections(_store).List())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return name;
        }
    }

    /// <inheritdoc />
    public override Task<bool> CollectionExistsAsync(string name, CancellationToken cancellationToken = default)
    {
        CollectionNames.Validate(name);
        return Task.FromResult(new SqliteCollections(_store).Exists(name));
    }

    /// <inheritdoc />
    public override Task EnsureCollectionDeletedAsync(string name, CancellationToken cancellationToken = default)
    {
        CollectionNames.Validate(name);
        new SqliteCollections(_store).Delete(name);
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
