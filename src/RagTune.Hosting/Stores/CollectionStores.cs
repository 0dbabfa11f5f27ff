using RagTune.Rag.Ingestion;
using RagTune.Rag.Postgres;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Stores;

// The one place above the stores that names one: every front end (CLI, server, MCP) and every Hosting service gets
// its collections from here as an ICollectionCatalog: SQLite files under the data directory by default, PostgreSQL
// when a connection string is set. No other code knows which. An architecture test keeps it that way.

/// <summary>
/// Settings of the collection store: where collections live (SQLite files under <see cref="DataDirectory"/>, or the
/// PostgreSQL database of <see cref="ConnectionString"/>) and how keyword and vector search are tuned.
/// </summary>
public sealed record CollectionStoreOptions
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

    /// <summary>
    /// PostgreSQL (with pgvector) to keep collections in instead of SQLite files: <c>postgres://user:pw@host:5432/db</c>
    /// or <c>Host=…;Username=…;Password=…;Database=…</c> (config <c>RagTune:Store:ConnectionString</c>, CLI
    /// <c>--store</c>). Null (default): the SQLite store.
    /// </summary>
    public string? ConnectionString { get; init; }

    /// <summary>PostgreSQL only: prefix of the store's schemas (catalog <c>&lt;prefix&gt;</c>, collections <c>&lt;prefix&gt;_c&lt;n&gt;</c>); default <c>ragtune</c>.</summary>
    public string SchemaPrefix { get; init; } = PostgresStoreOptions.DefaultSchemaPrefix;

    /// <summary>PostgreSQL only: HNSW links per node (pgvector <c>m</c>); default 16. See docs/postgres.md for the trade.</summary>
    public int HnswM { get; init; } = PostgresStoreOptions.DefaultHnswM;

    /// <summary>PostgreSQL only: HNSW build candidate list (<c>ef_construction</c>); default 64.</summary>
    public int HnswEfConstruction { get; init; } = PostgresStoreOptions.DefaultHnswEfConstruction;

    /// <summary>PostgreSQL only: HNSW query candidate list (<c>hnsw.ef_search</c>, raised to k); default 100.</summary>
    public int HnswEfSearch { get; init; } = PostgresStoreOptions.DefaultHnswEfSearch;

    /// <summary>
    /// PostgreSQL only: vector search scans every vector exactly instead of using the HNSW index (the reference the
    /// index's recall is measured against). Default false. The SQLite store's search is always exact.
    /// </summary>
    public bool ExactVectorSearch { get; init; }

    /// <summary>
    /// The same store with every fast path switched to its reference (FTS5 scoring, the float scan, the exact vector
    /// scan): what <c>bench rag</c> times and checks the fast paths against.
    /// </summary>
    public CollectionStoreOptions ReferencePaths => this with { InMemoryKeywordIndex = false, Int8VectorFilter = false, ExactVectorSearch = true };

    /// <summary>True when collections live in PostgreSQL.</summary>
    public bool IsPostgres => !string.IsNullOrWhiteSpace(ConnectionString);

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (!double.IsFinite(TitleWeight))
            throw new ArgumentException($"TitleWeight {TitleWeight} must be a finite number (1.0 weighs the title as the text).", nameof(TitleWeight));
        if (ConnectionString != null && !IsPostgres)
            throw new ArgumentException("ConnectionString is blank: give a PostgreSQL connection string (postgres://… or Host=…) or leave it unset for the SQLite store.", nameof(ConnectionString));
        if (IsPostgres) Postgres(this).Validate();
    }

    internal static PostgresStoreOptions Postgres(CollectionStoreOptions o) => new()
    {
        ConnectionString = o.ConnectionString!, SchemaPrefix = o.SchemaPrefix, TitleWeight = o.TitleWeight,
        HnswM = o.HnswM, HnswEfConstruction = o.HnswEfConstruction, HnswEfSearch = o.HnswEfSearch, ExactVectorSearch = o.ExactVectorSearch,
    };
}

/// <summary>Composes the collection store (SQLite by default, PostgreSQL with a connection string) from <see cref="CollectionStoreOptions"/>.</summary>
public static class CollectionStores
{
    /// <summary>The collections of the options' PostgreSQL database when a connection string is set, else of its data directory.</summary>
    public static ICollectionCatalog Catalog(CollectionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options.IsPostgres ? new PostgresCollections(CollectionStoreOptions.Postgres(options)) : new SqliteCollections(Sqlite(options));
    }

    /// <summary>The collections of <paramref name="dataDirectory"/> (null: the default data directory) with default settings.</summary>
    public static ICollectionCatalog Catalog(string? dataDirectory) => Catalog(new CollectionStoreOptions { DataDirectory = dataDirectory });

    /// <summary>
    /// A collection file opened by its path instead of by name (the CLI's <c>--db</c>), created when absent: a
    /// SQLite store's collections are files, so one can be handed over as a file.
    /// </summary>
    internal static ICollectionStore OpenFile(string path, string name, CollectionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.IsPostgres)
            throw new ArgumentException($"'{path}' is a SQLite collection file, which a PostgreSQL store cannot open; pass --collection <name> with --store, or drop --store to open the file.", nameof(path));
        return new SqliteCollections(Sqlite(options)).OpenFile(path, name);
    }

    /// <summary>The chunk-vector cache of one embedding model (<paramref name="modelKey"/>), kept in <paramref name="folder"/>.</summary>
    internal static IVectorCache VectorCache(string folder, string modelKey) => SqliteVectorCache.Open(folder, modelKey);

    private static SqliteStoreOptions Sqlite(CollectionStoreOptions o) => new()
    {
        DataDirectory = o.DataDirectory, TitleWeight = o.TitleWeight, InMemoryKeywordIndex = o.InMemoryKeywordIndex, Int8VectorFilter = o.Int8VectorFilter,
    };
}
