using System.Globalization;
using Npgsql;
using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres;

/// <summary>
/// The store's layout in one database. Schema <c>&lt;prefix&gt;</c> holds the catalog: <c>meta</c> (format
/// <see cref="CatalogFormatName"/>, version) and <c>collections</c> (name → number). Collection n lives in schema
/// <c>&lt;prefix&gt;_c&lt;n&gt;</c>: <c>meta</c> (format <see cref="FormatName"/>, version, embedding model), documents
/// (metadata as JSONB), chunks, <c>postings</c> (BM25: term, chunk, frequency in title and text) and vectors
/// (pgvector, HNSW). Schema names are built from the validated prefix and a number, never from a collection name, so
/// a name cannot reach SQL as an identifier; every value travels as a parameter. Checked on every open; a schema we
/// do not recognise is refused and never modified.
/// </summary>
internal static class PostgresSchema
{
    public const string CatalogFormatName = "ragtune-pg-catalog";
    public const string FormatName = "ragtune-pg-collection";
    /// <summary>
    /// The collection layout. 2: postings carry no foreign key to chunks (a key checked for each of a chunk's some
    /// 66 postings slowed every write); the store deletes a chunk's postings itself, which version 1 collections (whose key cascades)
    /// take as well. A RagTune that only knows 1 relied on that cascade, so it must refuse a version 2 collection.
    /// </summary>
    public const int Version = 2;

    /// <summary>The catalog layout (meta and collections), unchanged since the first.</summary>
    public const int CatalogVersion = 1;

    public const string KeyFormat = "format";
    public const string KeyVersion = "schema_version";
    public const string KeyName = "name";
    public const string KeyEmbeddingModel = "embedding_model";
    public const string KeyEmbeddingDimensions = "embedding_dimensions";
    public const string KeyReembedModel = "reembed_model";
    public const string KeyReembedDimensions = "reembed_dimensions";
    /// <summary>Bumped by every write; writers lock its row, which serialises the writers of one collection.</summary>
    public const string KeyWriteVersion = "write_version";

    /// <summary>pgvector's HNSW indexes vectors of at most 2000 dimensions; larger ones are searched exactly.</summary>
    public const int MaxIndexedDimensions = 2000;

    /// <summary>A double-quoted identifier. Only ever given names this class built from the validated prefix.</summary>
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string CollectionSchema(string prefix, long number) => prefix + "_c" + number.ToString(CultureInfo.InvariantCulture);

    /// <summary>Creates the catalog schema when absent and checks it; one transaction under the prefix's advisory lock.</summary>
    public static async Task EnsureCatalogAsync(NpgsqlDataSource db, string prefix, CancellationToken ct)
    {
        var p = Quote(prefix);
        await using var c = await db.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        await LockPrefixAsync(c, tx, prefix, ct).ConfigureAwait(false);
        bool schemaExists = await ScalarAsync<bool>(c, tx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = @p)", ct, ("p", prefix)).ConfigureAwait(false);
        bool metaExists = await ScalarAsync<bool>(c, tx, "SELECT to_regclass(@t) IS NOT NULL", ct, ("t", p + ".meta")).ConfigureAwait(false);
        if (schemaExists && !metaExists)
        {
            bool empty = await ScalarAsync<bool>(c, tx, "SELECT NOT EXISTS (SELECT 1 FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace WHERE n.nspname = @p)", ct, ("p", prefix)).ConfigureAwait(false);
            if (!empty) throw ForeignCatalog(prefix, "it has tables but no 'meta' table");
        }
        if (!metaExists)
        {
            await ExecAsync(c, tx, $"""
                CREATE SCHEMA IF NOT EXISTS {p};
                CREATE TABLE {p}.meta(key text PRIMARY KEY, value text NOT NULL);
                CREATE SEQUENCE {p}.collection_ids;
                CREATE TABLE {p}.collections(name text PRIMARY KEY, number bigint NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
                """, ct).ConfigureAwait(false);
            await ExecAsync(c, tx, $"INSERT INTO {p}.meta(key, value) VALUES (@k1, @v1), (@k2, @v2)", ct,
                ("k1", KeyFormat), ("v1", CatalogFormatName), ("k2", KeyVersion), ("v2", CatalogVersion.ToString(CultureInfo.InvariantCulture))).ConfigureAwait(false);
        }
        var (format, version) = await ReadFormatAsync(c, tx, p, ct).ConfigureAwait(false);
        if (format != CatalogFormatName) throw ForeignCatalog(prefix, $"its format is '{format ?? "(none)"}'");
        CheckVersion(version, CatalogVersion, $"schema '{prefix}'", CatalogFormatName);
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Creates collection <paramref name="name"/>'s schema and tables (inside the caller's transaction).</summary>
    public static async Task CreateCollectionAsync(NpgsqlConnection c, NpgsqlTransaction tx, string schema, string name, CancellationToken ct)
    {
        var s = Quote(schema);
        // Index names are unqualified: PostgreSQL puts an index in its table's schema.
        await ExecAsync(c, tx, $"""
            CREATE SCHEMA {s};
            CREATE TABLE {s}.meta(key text PRIMARY KEY, value text NOT NULL);
            CREATE TABLE {s}.documents(
                id text PRIMARY KEY,
                source text NOT NULL,
                title text NOT NULL,
                hash text NOT NULL,
                metadata jsonb NOT NULL,             -- object of string values; filters test containment (@>)
                updated_at timestamptz NOT NULL);
            CREATE INDEX documents_metadata ON {s}.documents USING gin (metadata jsonb_path_ops);
            CREATE SEQUENCE {s}.chunk_ids;             -- never reused, so a stale id cannot name another chunk
            CREATE TABLE {s}.chunks(
                id bigint PRIMARY KEY,
                document_id text NOT NULL REFERENCES {s}.documents(id) ON DELETE CASCADE,
                idx integer NOT NULL,
                text text NOT NULL,
                start integer NOT NULL,
                "end" integer NOT NULL,
                heading_path jsonb NOT NULL,         -- array, outermost first
                token_count integer NOT NULL,
                title_tokens integer NOT NULL,       -- BM25 length: tokens of title + headings ...
                text_tokens integer NOT NULL);       -- ... plus tokens of the text (FTS5 counts both columns)
            CREATE INDEX chunks_document ON {s}.chunks(document_id, idx);
            CREATE TABLE {s}.postings(
                term text NOT NULL,                  -- a Porter-stemmed unicode61 token (Fts5Tokens)
                chunk_id bigint NOT NULL,            -- no foreign key (see Version): DeletePostingsAsync removes them
                title_tf integer NOT NULL,
                text_tf integer NOT NULL,
                PRIMARY KEY (term, chunk_id));
            CREATE INDEX postings_chunk ON {s}.postings(chunk_id);
            CREATE TABLE {s}.vectors(
                chunk_id bigint PRIMARY KEY REFERENCES {s}.chunks(id) ON DELETE CASCADE,
                embedding vector NOT NULL);          -- typed vector(n) and HNSW-indexed by the first embedded write
            """, ct).ConfigureAwait(false);
        await ExecAsync(c, tx, $"INSERT INTO {s}.meta(key, value) VALUES (@k1, @v1), (@k2, @v2), (@k3, @v3), (@k4, '0')", ct,
            ("k1", KeyFormat), ("v1", FormatName), ("k2", KeyVersion), ("v2", Version.ToString(CultureInfo.InvariantCulture)),
            ("k3", KeyName), ("v3", name), ("k4", KeyWriteVersion)).ConfigureAwait(false);
    }

    /// <summary>The name of the HNSW index of the vectors table (in the table's schema).</summary>
    public const string VectorIndexName = "vectors_hnsw";

    /// <summary>Types <paramref name="table"/>'s embedding column to <paramref name="dimensions"/> (its index comes later: <see cref="CreateVectorIndexAsync"/>).</summary>
    public static Task TypeVectorsAsync(NpgsqlConnection c, NpgsqlTransaction tx, string schema, string table, int dimensions, CancellationToken ct) =>
        ExecAsync(c, tx, string.Create(CultureInfo.InvariantCulture, $"ALTER TABLE {Quote(schema)}.{Quote(table)} ALTER COLUMN embedding TYPE vector({dimensions})"), ct);

    /// <summary>Builds the HNSW index of collection <paramref name="schema"/>'s vectors (of <paramref name="dimensions"/>) over the rows present.</summary>
    public static async Task CreateVectorIndexAsync(NpgsqlConnection c, NpgsqlTransaction tx, string schema, int dimensions, PostgresStoreOptions options, CancellationToken ct)
    {
        var s = Quote(schema);
        // pgvector builds the graph in memory while it fits maintenance_work_mem and then inserts the other rows one
        // by one, as slowly as writes would ("hnsw graph no longer fits into maintenance_work_mem"; the default 64 MB
        // holds some 30k vectors of 384 dimensions). So for this transaction it is raised to what the rows need: each
        // element holds its vector and about 2·m neighbour links (pgvector's hnswbuild.c), taken as 4·dims + 64·m
        // bytes; never lowered, at most 1 GB.
        long perRow = 4L * dimensions + 64L * options.HnswM;
        await ExecAsync(c, tx, $"""
            SELECT set_config('maintenance_work_mem',
                (greatest(pg_size_bytes(current_setting('maintenance_work_mem')), least((SELECT count(*) FROM {s}.vectors) * @perRow, 1073741824)) / 1024)::bigint::text || 'kB', true)
            """, ct, ("perRow", perRow)).ConfigureAwait(false);
        await using var build = new NpgsqlCommand(string.Create(CultureInfo.InvariantCulture,
            $"CREATE INDEX {Quote(VectorIndexName)} ON {s}.vectors USING hnsw (embedding vector_cosine_ops) WITH (m = {options.HnswM}, ef_construction = {options.HnswEfConstruction})"), c, tx);
        // No command timeout: a build cut off at the default 30 s would roll back and be started again by every
        // later search, never finishing (100k vectors take minutes on PGlite). The caller's token still cancels it.
        build.CommandTimeout = 0;
        await build.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Checks collection schema <paramref name="schema"/> is a RagTune collection this version understands.</summary>
    public static async Task CheckCollectionAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string schema, string where, CancellationToken ct)
    {
        var s = Quote(schema);
        if (!await ScalarAsync<bool>(c, tx, "SELECT to_regclass(@t) IS NOT NULL", ct, ("t", s + ".meta")).ConfigureAwait(false))
            throw Foreign(where, "it has no 'meta' table");
        var (format, version) = await ReadFormatAsync(c, tx, s, ct).ConfigureAwait(false);
        if (format != FormatName) throw Foreign(where, $"its format is '{format ?? "(none)"}'");
        CheckVersion(version, Version, where, FormatName);
    }

    private static async Task<(string? Format, string? Version)> ReadFormatAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string quotedSchema, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT (SELECT value FROM {quotedSchema}.meta WHERE key = @f), (SELECT value FROM {quotedSchema}.meta WHERE key = @v)", c, tx);
        cmd.Parameters.AddWithValue("f", KeyFormat);
        cmd.Parameters.AddWithValue("v", KeyVersion);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return (r.IsDBNull(0) ? null : r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1));
    }

    private static void CheckVersion(string? text, int newest, string where, string format)
    {
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int version))
            throw Foreign(where, "its schema version is missing or not a number");
        if (version > newest)
            throw new CollectionFormatException(
                $"{where} is a {format} of schema version {version}, newer than this RagTune understands ({newest}). Upgrade RagTune; nothing was modified.");
        if (version < 1) throw Foreign(where, $"its schema version {version} is not valid");
    }

    /// <summary>Serialises catalog changes (create, delete) of one prefix across processes; released at commit.</summary>
    public static Task LockPrefixAsync(NpgsqlConnection c, NpgsqlTransaction tx, string prefix, CancellationToken ct) =>
        ExecAsync(c, tx, "SELECT pg_advisory_xact_lock(hashtext(@p))", ct, ("p", "ragtune:" + prefix));

    private static CollectionFormatException ForeignCatalog(string prefix, string why) =>
        new($"Schema '{prefix}' is not a RagTune catalog ({why}; expected format '{CatalogFormatName}'). Set another SchemaPrefix (RagTune:Store:SchemaPrefix); nothing was modified.");

    private static CollectionFormatException Foreign(string where, string why) =>
        new($"{where} is not a RagTune collection ({why}; expected format '{FormatName}'). Drop it by hand or pick another collection name; nothing was modified.");

    public static async Task ExecAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var cmd = new NpgsqlCommand(sql, c, tx);
        foreach (var (n, v) in parameters) cmd.Parameters.AddWithValue(n, v);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlConnection c, NpgsqlTransaction? tx, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var cmd = new NpgsqlCommand(sql, c, tx);
        foreach (var (n, v) in parameters) cmd.Parameters.AddWithValue(n, v);
        var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return (T)Convert.ChangeType(value!, typeof(T), CultureInfo.InvariantCulture);
    }
}
