using Npgsql;
using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres;

/// <summary>
/// The collections of one PostgreSQL database under one schema prefix (<see cref="PostgresSchema"/>): a catalog table
/// maps each name to a number, collection n is schema <c>&lt;prefix&gt;_c&lt;n&gt;</c>. Creating and deleting a
/// collection (schema, tables and catalog row) is one transaction: PostgreSQL's DDL is transactional.
/// </summary>
public sealed class PostgresCollections : ICollectionCatalog
{
    private readonly NpgsqlDataSource _db;
    private readonly string _catalog;

    /// <summary>Validates the options, connects and creates or checks the catalog schema.</summary>
    /// <exception cref="CollectionFormatException">The prefix's schema is not a RagTune catalog, or is from a newer version.</exception>
    public PostgresCollections(PostgresStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _db = PostgresDataSources.For(options.ConnectionString);
        _catalog = PostgresSchema.Quote(options.SchemaPrefix);
        PostgresSchema.EnsureCatalogAsync(_db, options.SchemaPrefix, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>The database, schema prefix and search settings every collection of this catalog is opened with.</summary>
    public PostgresStoreOptions Options { get; }

    /// <inheritdoc />
    public string Location => $"{PostgresConnectionString.Describe(Options.ConnectionString)} (schema prefix '{Options.SchemaPrefix}')";

    /// <inheritdoc />
    public string FormatName => PostgresSchema.FormatName;

    /// <inheritdoc />
    public IReadOnlyList<string> List()
    {
        using var c = _db.OpenConnection();
        using var cmd = new NpgsqlCommand($"SELECT name FROM {_catalog}.collections", c);
        using var r = cmd.ExecuteReader();
        var names = new List<string>();
        while (r.Read()) names.Add(r.GetString(0));
        return names.Where(CollectionNames.IsValid).Order(StringComparer.Ordinal).ToList();
    }

    /// <inheritdoc />
    public bool Exists(string name)
    {
        CollectionNames.Validate(name);
        using var c = _db.OpenConnection();
        return Number(c, null, name) != null;
    }

    /// <inheritdoc />
    public string LocationOf(string name)
    {
        CollectionNames.Validate(name);
        using var c = _db.OpenConnection();
        var n = Number(c, null, name);
        return n is { } number ? $"{Location}: schema {PostgresSchema.CollectionSchema(Options.SchemaPrefix, number)}" : $"{Location}: (no collection '{name}')";
    }

    /// <inheritdoc />
    public ICollectionStore Open(string name, bool create)
    {
        CollectionNames.Validate(name);
        using (var c = _db.OpenConnection())
        {
            if (Number(c, null, name) is { } existing) return OpenChecked(c, name, existing);
            if (!create)
                throw new CollectionNotFoundException($"There is no collection '{name}' in {Location}; see 'ragtune collections list' or create it with 'ragtune ingest'.");
        }
        return Create(name);
    }

    /// <inheritdoc />
    public ICollectionStore Recreate(string name)
    {
        CollectionNames.Validate(name);
        Drop(name, check: false);
        return Create(name);
    }

    /// <inheritdoc />
    public async Task<CollectionStats> StatsAsync(string name, CancellationToken cancellationToken = default)
    {
        using var store = Open(name, create: false);
        return await store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public bool Delete(string name)
    {
        CollectionNames.Validate(name);
        return Drop(name, check: true);
    }

    private PostgresChunkStore OpenChecked(NpgsqlConnection c, string name, long number)
    {
        var schema = PostgresSchema.CollectionSchema(Options.SchemaPrefix, number);
        PostgresSchema.CheckCollectionAsync(c, null, schema, Where(name, schema), CancellationToken.None).GetAwaiter().GetResult();
        return new PostgresChunkStore(name, schema, _db, Options);
    }

    private PostgresChunkStore Create(string name)
    {
        using var c = _db.OpenConnection();
        using var tx = c.BeginTransaction();
        PostgresSchema.LockPrefixAsync(c, tx, Options.SchemaPrefix, CancellationToken.None).GetAwaiter().GetResult();
        if (Number(c, tx, name) is { } made) // another process created it while we looked
        {
            tx.Commit();
            return OpenChecked(c, name, made);
        }
        long number;
        using (var insert = new NpgsqlCommand($"INSERT INTO {_catalog}.collections(name, number) VALUES (@n, nextval(@seq::regclass)) RETURNING number", c, tx))
        {
            insert.Parameters.AddWithValue("n", name);
            insert.Parameters.AddWithValue("seq", _catalog + ".collection_ids");
            number = (long)insert.ExecuteScalar()!;
        }
        var schema = PostgresSchema.CollectionSchema(Options.SchemaPrefix, number);
        PostgresSchema.CreateCollectionAsync(c, tx, schema, name, CancellationToken.None).GetAwaiter().GetResult();
        tx.Commit();
        return new PostgresChunkStore(name, schema, _db, Options);
    }

    private bool Drop(string name, bool check)
    {
        using var c = _db.OpenConnection();
        using var tx = c.BeginTransaction();
        PostgresSchema.LockPrefixAsync(c, tx, Options.SchemaPrefix, CancellationToken.None).GetAwaiter().GetResult();
        if (Number(c, tx, name) is not { } number) return false;
        var schema = PostgresSchema.CollectionSchema(Options.SchemaPrefix, number);
        bool present = PostgresSchema.ScalarAsync<bool>(c, tx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = @s)", CancellationToken.None, ("s", schema)).GetAwaiter().GetResult();
        if (check && present) PostgresSchema.CheckCollectionAsync(c, tx, schema, Where(name, schema), CancellationToken.None).GetAwaiter().GetResult();
        if (present) PostgresSchema.ExecAsync(c, tx, $"DROP SCHEMA {PostgresSchema.Quote(schema)} CASCADE", CancellationToken.None).GetAwaiter().GetResult();
        PostgresSchema.ExecAsync(c, tx, $"DELETE FROM {_catalog}.collections WHERE name = @n", CancellationToken.None, ("n", name)).GetAwaiter().GetResult();
        tx.Commit();
        return true;
    }

    private long? Number(NpgsqlConnection c, NpgsqlTransaction? tx, string name)
    {
        using var cmd = new NpgsqlCommand($"SELECT number FROM {_catalog}.collections WHERE name = @n", c, tx);
        cmd.Parameters.AddWithValue("n", name);
        return cmd.ExecuteScalar() is long n ? n : null;
    }

    private string Where(string name, string schema) => $"Collection '{name}' (schema {schema} at {PostgresConnectionString.Describe(Options.ConnectionString)})";
}
