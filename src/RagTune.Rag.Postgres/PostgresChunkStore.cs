using System.Globalization;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Pgvector;
using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres;

/// <summary>
/// One collection in PostgreSQL (schema <c>&lt;prefix&gt;_c&lt;n&gt;</c>, see <see cref="PostgresSchema"/>). Every write
/// is one transaction that first locks the collection's <c>write_version</c> row, so the writers of one collection
/// (in any process) take turns and a dropped connection or killed process leaves nothing of its batch. Readers never
/// wait for writers (MVCC). Thread-safe: every call takes its own pooled connection.
/// </summary>
internal sealed partial class PostgresChunkStore : ICollectionStore
{
    private const string ChunkColumns =
        "c.id, c.document_id, d.source, d.title, c.idx, c.text, c.start, c.\"end\", c.heading_path::text, c.token_count, d.metadata::text";

    private readonly NpgsqlDataSource _db;
    private readonly PostgresStoreOptions _options;
    private readonly string _s; // the quoted schema name
    private bool _disposed;

    // The vectors' HNSW index is known to exist, so unfiltered searches skip the lookup (one round trip each). Only a
    // re-embedding drops it; this store's own resets the flag. After another process's re-embedding, searches stay
    // correct without the index (pgvector then orders by an exact scan) until this store is reopened.
    private volatile bool _vectorIndexSeen;

    internal PostgresChunkStore(string name, string schema, NpgsqlDataSource db, PostgresStoreOptions options)
    {
        Name = name;
        Schema = schema;
        _db = db;
        _options = options;
        _s = PostgresSchema.Quote(schema);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The collection's schema.</summary>
    public string Schema { get; }

    /// <inheritdoc />
    public EmbeddingInfo? Embedding
    {
        get
        {
            using var c = Connect();
            return ReadEmbeddingAsync(c, null, CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    private NpgsqlConnection Connect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _db.OpenConnection();
    }

    private async Task<NpgsqlConnection> ConnectAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, DocumentState>> GetDocumentStatesAsync(CancellationToken cancellationToken = default)
    {
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"""
            SELECT d.id, d.source, d.hash, d.updated_at, (SELECT count(*) FROM {_s}.chunks c WHERE c.document_id = d.id)::int
            FROM {_s}.documents d
            """, c);
        var result = new Dictionary<string, DocumentState>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            result[r.GetString(0)] = new DocumentState(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(4),
                new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(3), DateTimeKind.Utc)));
        return result;
    }

    /// <inheritdoc />
    public async Task WriteBatchAsync(IReadOnlyList<DocumentWrite> batch, EmbeddingInfo? embedding, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        DocumentWrite.ValidateBatch(batch, embedding);
        cancellationToken.ThrowIfCancellationRequested();
        var ct = cancellationToken;
        await using var c = await ConnectAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        await LockForWriteAsync(c, tx, ct).ConfigureAwait(false);
        var stored = await ReadEmbeddingAsync(c, tx, ct).ConfigureAwait(false);
        if (batch.Any(w => w.Embeddings != null))
        {
            if (stored != null && stored != embedding)
                throw new InvalidOperationException(
                    $"Collection '{Name}' holds vectors of '{stored.ModelId}' ({stored.Dimensions} dimensions); this batch is from '{embedding!.ModelId}' ({embedding.Dimensions}). " +
                    "Re-create the collection to change the embedding model.");
            if (stored == null)
            {
                await SetMetaAsync(c, tx, PostgresSchema.KeyEmbeddingModel, embedding!.ModelId, ct).ConfigureAwait(false);
                await SetMetaAsync(c, tx, PostgresSchema.KeyEmbeddingDimensions, embedding.Dimensions.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
                await PostgresSchema.TypeVectorsAsync(c, tx, Schema, "vectors", embedding.Dimensions, ct).ConfigureAwait(false);
            }
        }

        var docIds = batch.Select(w => w.Document.Id).ToArray();
        // Old chunks go with their vectors (ON DELETE CASCADE), after their postings (no key to cascade).
        await DeletePostingsAsync(c, tx, docIds, ct).ConfigureAwait(false);
        await ExecAsync(c, tx, $"DELETE FROM {_s}.chunks WHERE document_id = ANY(@ids)", ct, ("ids", docIds)).ConfigureAwait(false);
        var now = DateTime.UtcNow;
        await ExecAsync(c, tx, $"""
            INSERT INTO {_s}.documents(id, source, title, hash, metadata, updated_at)
            SELECT id, source, title, hash, metadata::jsonb, @now FROM unnest(@ids, @sources, @titles, @hashes, @metadata) AS t(id, source, title, hash, metadata)
            ON CONFLICT (id) DO UPDATE SET source = excluded.source, title = excluded.title, hash = excluded.hash,
                metadata = excluded.metadata, updated_at = excluded.updated_at
            """, ct, ("now", now), ("ids", docIds), ("sources", batch.Select(w => w.Document.Source).ToArray()),
            ("titles", batch.Select(w => w.Document.Title).ToArray()), ("hashes", batch.Select(w => w.Document.ContentHash).ToArray()),
            ("metadata", batch.Select(w => JsonSerializer.Serialize(w.Document.Metadata)).ToArray())).ConfigureAwait(false);

        int n = batch.Sum(w => w.Chunks.Count);
        if (n > 0)
        {
            var ids = await NewChunkIdsAsync(c, tx, n, ct).ConfigureAwait(false);
            var rows = new ChunkRows(n);
            int row = 0;
            foreach (var write in batch)
            {
                ct.ThrowIfCancellationRequested();
                var doc = write.Document;
                for (int i = 0; i < write.Chunks.Count; i++, row++)
                {
                    var chunk = write.Chunks[i];
                    rows.Add(ids[row], doc, chunk, write.Embeddings?[i]);
                }
            }
            await rows.WriteAsync(c, tx, _s, ct).ConfigureAwait(false);
        }
        await BumpWriteVersionAsync(c, tx, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DeleteDocumentsAsync(IReadOnlyCollection<string> documentIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentIds);
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await LockForWriteAsync(c, tx, cancellationToken).ConfigureAwait(false);
        var ids = documentIds.ToArray();
        await DeletePostingsAsync(c, tx, ids, cancellationToken).ConfigureAwait(false);
        await ExecAsync(c, tx, $"DELETE FROM {_s}.documents WHERE id = ANY(@ids)", cancellationToken, ("ids", ids)).ConfigureAwait(false);
        await BumpWriteVersionAsync(c, tx, cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<StoredChunk?> GetChunkAsync(long chunkId, CancellationToken cancellationToken = default)
    {
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {ChunkColumns} FROM {_s}.chunks c JOIN {_s}.documents d ON d.id = c.document_id WHERE c.id = @id", c);
        cmd.Parameters.AddWithValue("id", chunkId);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadChunk(r, 0) : null;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<StoredChunk>> GetAllChunksAsync(CancellationToken cancellationToken = default)
    {
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        // COLLATE "C": ordinal order of document ids, as SQLite's BINARY collation sorts them.
        await using var cmd = new NpgsqlCommand($"SELECT {ChunkColumns} FROM {_s}.chunks c JOIN {_s}.documents d ON d.id = c.document_id ORDER BY d.id COLLATE \"C\", c.id", c);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<StoredChunk>();
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false)) result.Add(ReadChunk(r, 0));
        return result;
    }

    /// <inheritdoc />
    public async Task<CollectionStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        // One statement, one snapshot. Bytes: tables with their indexes and TOAST.
        await using var cmd = new NpgsqlCommand($"""
            SELECT (SELECT count(*) FROM {_s}.documents)::int, (SELECT count(*) FROM {_s}.chunks)::int, (SELECT count(*) FROM {_s}.vectors)::int,
                (SELECT value FROM {_s}.meta WHERE key = @version),
                (SELECT coalesce(sum(pg_total_relation_size(k.oid)), 0)::bigint FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace
                 WHERE n.nspname = @schema AND k.relkind = 'r'),
                (SELECT value FROM {_s}.meta WHERE key = @model), (SELECT value FROM {_s}.meta WHERE key = @dims)
            """, c);
        cmd.Parameters.AddWithValue("version", PostgresSchema.KeyVersion);
        cmd.Parameters.AddWithValue("schema", Schema);
        cmd.Parameters.AddWithValue("model", PostgresSchema.KeyEmbeddingModel);
        cmd.Parameters.AddWithValue("dims", PostgresSchema.KeyEmbeddingDimensions);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await r.ReadAsync(cancellationToken).ConfigureAwait(false);
        var embedding = !r.IsDBNull(5) && int.TryParse(r.IsDBNull(6) ? null : r.GetString(6), NumberStyles.Integer, CultureInfo.InvariantCulture, out int d)
            ? new EmbeddingInfo(r.GetString(5), d) : null;
        return new CollectionStats(Name, r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt64(4), embedding,
            int.Parse(r.GetString(3), CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The postings of the documents' chunks. Not left to a cascade: postings have no foreign key (PostgresSchema.Version),
    /// and a posting left behind would still count in its term's document frequency.
    /// </summary>
    private Task DeletePostingsAsync(NpgsqlConnection c, NpgsqlTransaction tx, string[] documentIds, CancellationToken ct) =>
        ExecAsync(c, tx, $"DELETE FROM {_s}.postings p USING {_s}.chunks c WHERE p.chunk_id = c.id AND c.document_id = ANY(@ids)", ct, ("ids", documentIds));

    private async Task<long[]> NewChunkIdsAsync(NpgsqlConnection c, NpgsqlTransaction tx, int n, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT nextval(@seq::regclass) FROM generate_series(1, @n)", c, tx);
        cmd.Parameters.AddWithValue("seq", _s + ".chunk_ids");
        cmd.Parameters.AddWithValue("n", n);
        var ids = new long[n];
        int i = 0;
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) ids[i++] = r.GetInt64(0);
        return ids;
    }

    private static StoredChunk ReadChunk(NpgsqlDataReader r, int o)
    {
        var headings = JsonSerializer.Deserialize<List<string>>(r.GetString(o + 8)) ?? [];
        var metadata = JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(o + 10)) ?? [];
        var chunk = new Chunk(r.GetInt32(o + 4), r.GetString(o + 5), r.GetInt32(o + 6), r.GetInt32(o + 7), headings, r.GetInt32(o + 9));
        return new StoredChunk(r.GetInt64(o), r.GetString(o + 1), r.GetString(o + 2), r.GetString(o + 3), chunk, metadata);
    }

    private async Task LockForWriteAsync(NpgsqlConnection c, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT value FROM {_s}.meta WHERE key = @k FOR UPDATE", c, tx);
        cmd.Parameters.AddWithValue("k", PostgresSchema.KeyWriteVersion);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private Task BumpWriteVersionAsync(NpgsqlConnection c, NpgsqlTransaction tx, CancellationToken ct) =>
        ExecAsync(c, tx, $"UPDATE {_s}.meta SET value = (value::bigint + 1)::text WHERE key = @k", ct, ("k", PostgresSchema.KeyWriteVersion));

    private async Task<EmbeddingInfo?> ReadEmbeddingAsync(NpgsqlConnection c, NpgsqlTransaction? tx, CancellationToken ct) =>
        await ReadModelAsync(c, tx, PostgresSchema.KeyEmbeddingModel, PostgresSchema.KeyEmbeddingDimensions, ct).ConfigureAwait(false);

    private async Task<EmbeddingInfo?> ReadModelAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string modelKey, string dimsKey, CancellationToken ct)
    {
        var model = await GetMetaAsync(c, tx, modelKey, ct).ConfigureAwait(false);
        var dims = await GetMetaAsync(c, tx, dimsKey, ct).ConfigureAwait(false);
        return model != null && int.TryParse(dims, NumberStyles.Integer, CultureInfo.InvariantCulture, out int d) ? new EmbeddingInfo(model, d) : null;
    }

    private async Task<string?> GetMetaAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string key, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT value FROM {_s}.meta WHERE key = @k", c, tx);
        cmd.Parameters.AddWithValue("k", key);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }

    private Task SetMetaAsync(NpgsqlConnection c, NpgsqlTransaction tx, string key, string value, CancellationToken ct) =>
        ExecAsync(c, tx, $"INSERT INTO {_s}.meta(key, value) VALUES (@k, @v) ON CONFLICT (key) DO UPDATE SET value = excluded.value", ct, ("k", key), ("v", value));

    private static Task ExecAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string sql, CancellationToken ct, params (string Name, object Value)[] parameters) =>
        PostgresSchema.ExecAsync(c, tx, sql, ct, parameters);

    /// <inheritdoc />
    public void Dispose() => _disposed = true; // the pool belongs to the data source, shared by the process
}
