using RagTune.Rag.Ingestion;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Stores;

// The one place above the stores that names one: every front end (CLI, server, MCP) and every Hosting service gets
// its collections from here as an ICollectionCatalog, so a PostgreSQL store plugs in by implementing the catalog
// and being chosen here, with no change to the code that uses collections. An architecture test keeps it that way.

/// <summary>Settings of the collection store: where collections live and how keyword search weighs titles.</summary>
internal sealed record CollectionStoreOptions
{
    /// <summary>
    /// RagTune's data directory (collections are kept under it); null means <c>$RAGTUNE_DATA_DIR</c>, else
    /// <c>~/.ragtune</c> (<see cref="RagTuneDataDirectory"/>).
    /// </summary>
    public string? DataDirectory { get; init; }

    /// <summary>
    /// BM25 weight of a chunk's title (document title and heading path) relative to its text; default 1.0, the same
    /// as indexing title and text as one field.
    /// </summary>
    public double TitleWeight { get; init; } = new SqliteStoreOptions().TitleWeight;

    /// <summary>
    /// BM25 from postings held in memory, identical to the store's own scoring (SQLite: FTS5 <c>bm25()</c>); false
    /// is the reference path. Default true.
    /// </summary>
    public bool InMemoryKeywordIndex { get; init; } = true;

    /// <summary>
    /// Vector search filters rows with int8 scores and rescores the survivors in float, identical to the float
    /// scan; false is the reference float scan. Default true.
    /// </summary>
    public bool Int8VectorFilter { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (!double.IsFinite(TitleWeight))
            throw new ArgumentException($"TitleWeight {TitleWeight} must be a finite number (1.0 weighs the title as the text).", nameof(TitleWeight));
    }
}

/// <summary>Composes the collection store (SQLite today) from <see cref="CollectionStoreOptions"/>.</summary>
internal static class CollectionStores
{
    /// <summary>The collections of the options' data directory.</summary>
    public static ICollectionCatalog Catalog(CollectionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new SqliteCollections(Sqlite(options));
    }

    /// <summary>The collections of <paramref name="dataDirectory"/> (null: the default data directory) with default settings.</summary>
    public static ICollectionCatalog Catalog(string? dataDirectory) => Catalog(new CollectionStoreOptions { DataDirectory = dataDirectory });

    /// <summary>
    /// A collection file opened by its path instead of by name (the CLI's <c>--db</c>), created when absent: a
    /// SQLite store's collections are files, so one can be handed over as a file.
    /// </summary>
    public static ICollectionStore OpenFile(string path, string name, CollectionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return SqliteChunkStore.OpenFile(name, path, Sqlite(options));
    }

    /// <summary>The chunk-vector cache of one embedding model (<paramref name="modelKey"/>), kept in <paramref name="folder"/>.</summary>
    public static IVectorCache VectorCache(string folder, string modelKey) => SqliteVectorCache.Open(folder, modelKey);

    private static SqliteStoreOptions Sqlite(CollectionStoreOptions o) => new()
    {
        DataDirectory = o.DataDirectory, TitleWeight = o.TitleWeight, InMemoryKeywordIndex = o.InMemoryKeywordIndex, Int8VectorFilter = o.Int8VectorFilter,
    };
}
