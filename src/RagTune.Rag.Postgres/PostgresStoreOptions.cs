using System.Text.RegularExpressions;
using Npgsql;

namespace RagTune.Rag.Postgres;

/// <summary>
/// Settings of the PostgreSQL store: which database, under which schema prefix, how keyword search weighs titles
/// and how the HNSW vector index trades recall for speed. Checked by <see cref="Validate"/> before anything connects.
/// </summary>
public sealed partial record PostgresStoreOptions
{
    /// <summary>
    /// Npgsql connection string (<c>Host=db;Username=ragtune;Password=…;Database=ragtune</c>) or a URL
    /// (<c>postgres://user:password@host:5432/db</c>). The database needs the pgvector extension
    /// (<c>CREATE EXTENSION vector</c>; the store creates it when the user may).
    /// </summary>
    public required string ConnectionString { get; init; }

    /// <summary>
    /// Prefix of the store's schemas: the catalog lives in schema <c>&lt;prefix&gt;</c>, collection n in
    /// <c>&lt;prefix&gt;_c&lt;n&gt;</c>. Default <c>ragtune</c>; 1-30 lower-case ASCII letters, digits or '_', starting
    /// with a letter. Two prefixes are two independent stores in one database (tests use one each).
    /// </summary>
    public string SchemaPrefix { get; init; } = DefaultSchemaPrefix;

    /// <summary>The default <see cref="SchemaPrefix"/>.</summary>
    public const string DefaultSchemaPrefix = "ragtune";

    /// <summary>Defaults of the HNSW settings (pgvector's m and ef_construction; ef_search raised for k = 100).</summary>
    public const int DefaultHnswM = 16, DefaultHnswEfConstruction = 64, DefaultHnswEfSearch = 100;

    /// <summary>BM25 weight of a chunk's title (document title and heading path) relative to its text; default 1.0, as the SQLite store.</summary>
    public double TitleWeight { get; init; } = 1.0;

    /// <summary>
    /// HNSW <c>m</c>: links per node. Higher raises recall at a given <see cref="HnswEfSearch"/> and costs index size and
    /// build time. pgvector's default 16; 2-100.
    /// </summary>
    public int HnswM { get; init; } = DefaultHnswM;

    /// <summary>
    /// HNSW <c>ef_construction</c>: candidate list while building. Higher builds a better graph, slower. pgvector's
    /// default 64; at least 2 × <see cref="HnswM"/>, at most 1000.
    /// </summary>
    public int HnswEfConstruction { get; init; } = DefaultHnswEfConstruction;

    /// <summary>
    /// HNSW <c>ef_search</c>: candidate list per query, set per query (raised to k when k is larger, since the index
    /// returns at most ef_search rows). Higher is closer to exact and slower. Default 100 (pgvector's 40 loses recall
    /// at k = 100 candidates, the retriever's usual depth); 1-1000.
    /// </summary>
    public int HnswEfSearch { get; init; } = DefaultHnswEfSearch;

    /// <summary>
    /// True: vector search scans every vector (exact, the SQLite store's result, O(n) per query) instead of the
    /// HNSW index. For parity checks and small collections; default false. Filtered searches are always exact.
    /// </summary>
    public bool ExactVectorSearch { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that is wrong and what to set.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            throw new ArgumentException("ConnectionString is empty: give an Npgsql connection string (Host=…;Database=…) or a postgres:// URL.", nameof(ConnectionString));
        try
        {
            _ = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(ConnectionString));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"ConnectionString is not a valid PostgreSQL connection string ({e.Message.TrimEnd('.')}); e.g. Host=localhost;Username=postgres;Database=ragtune or postgres://user@host/db.", nameof(ConnectionString), e);
        }
        if (!SchemaPrefixPattern().IsMatch(SchemaPrefix ?? ""))
            throw new ArgumentException($"SchemaPrefix '{SchemaPrefix}' is not valid: use 1-30 lower-case ASCII letters, digits or '_', starting with a letter (e.g. 'ragtune').", nameof(SchemaPrefix));
        if (!double.IsFinite(TitleWeight) || TitleWeight < 0)
            throw new ArgumentException($"TitleWeight {TitleWeight} must be a finite number ≥ 0 (1.0 weighs the title as the text).", nameof(TitleWeight));
        if (HnswM is < 2 or > 100)
            throw new ArgumentException($"HnswM {HnswM} is out of pgvector's range 2-100 (default 16).", nameof(HnswM));
        if (HnswEfConstruction < 2 * HnswM || HnswEfConstruction > 1000)
            throw new ArgumentException($"HnswEfConstruction {HnswEfConstruction} must be between 2 × HnswM ({2 * HnswM}) and 1000 (default 64).", nameof(HnswEfConstruction));
        if (HnswEfSearch is < 1 or > 1000)
            throw new ArgumentException($"HnswEfSearch {HnswEfSearch} is out of pgvector's range 1-1000 (default 100).", nameof(HnswEfSearch));
    }

    [GeneratedRegex("^[a-z][a-z0-9_]{0,29}$", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaPrefixPattern();
}
