using System.Globalization;
using System.Text.Json;
using Npgsql;
using Pgvector;
using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres;

// Re-embedding stages the new model's vectors in vectors_next (typed to the target's dimensions) and names the model
// in meta under reembed_model / reembed_dimensions. CompleteReembedAsync swaps the tables and records the model in one
// transaction (DDL is transactional in PostgreSQL): queries see the old model until commit. The old table's HNSW index
// goes with it; the first search of the new vectors builds theirs (EnsureVectorIndexAsync).
internal sealed partial class PostgresChunkStore
{
    private const string NextTable = "vectors_next";

    /// <inheritdoc />
    public async Task<ReembedState> BeginReembedAsync(EmbeddingInfo target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfLessThan(target.Dimensions, 1);
        var ct = cancellationToken;
        await using var c = await ConnectAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        await LockForWriteAsync(c, tx, ct).ConfigureAwait(false);
        var current = await ReadModelAsync(c, tx, PostgresSchema.KeyReembedModel, PostgresSchema.KeyReembedDimensions, ct).ConfigureAwait(false);
        if (current != target)
        {
            await ExecAsync(c, tx, string.Create(CultureInfo.InvariantCulture, $"""
                DROP TABLE IF EXISTS {_s}.{NextTable};
                CREATE TABLE {_s}.{NextTable}(
                    chunk_id bigint PRIMARY KEY REFERENCES {_s}.chunks(id) ON DELETE CASCADE,
                    embedding vector({target.Dimensions}) NOT NULL)
                """), ct).ConfigureAwait(false);
            await SetMetaAsync(c, tx, PostgresSchema.KeyReembedModel, target.ModelId, ct).ConfigureAwait(false);
            await SetMetaAsync(c, tx, PostgresSchema.KeyReembedDimensions, target.Dimensions.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
        }
        var state = new ReembedState(await CountPendingAsync(c, tx, ct).ConfigureAwait(false),
            await PostgresSchema.ScalarAsync<int>(c, tx, $"SELECT count(*)::int FROM {_s}.{NextTable}", ct).ConfigureAwait(false));
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return state;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ReembedChunk>> PendingReembedAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await RequireReembedStartedAsync(c, null, cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"""
            SELECT c.id, d.title, c.heading_path::text, c.text FROM {_s}.chunks c JOIN {_s}.documents d ON d.id = c.document_id
            WHERE NOT EXISTS (SELECT 1 FROM {_s}.{NextTable} n WHERE n.chunk_id = c.id) ORDER BY c.id LIMIT @n
            """, c);
        cmd.Parameters.AddWithValue("n", limit);
        var result = new List<ReembedChunk>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            result.Add(new ReembedChunk(r.GetInt64(0), r.GetString(1), JsonSerializer.Deserialize<string[]>(r.GetString(2)) ?? [], r.GetString(3)));
        return result;
    }

    /// <inheritdoc />
    public async Task StageVectorsAsync(IReadOnlyList<(long ChunkId, float[] Vector)> vectors, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        var ct = cancellationToken;
        await using var c = await ConnectAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        await LockForWriteAsync(c, tx, ct).ConfigureAwait(false);
        var target = await RequireReembedStartedAsync(c, tx, ct).ConfigureAwait(false);
        foreach (var (id, vector) in vectors)
            if (vector.Length != target.Dimensions)
                throw new ArgumentException($"Chunk {id}: a {vector.Length}-dimensional vector; '{target.ModelId}' makes {target.Dimensions}.", nameof(vectors));
        // A chunk deleted since it was handed out is skipped (the join), as the SQLite store's swap drops it.
        await using (var insert = new NpgsqlCommand($"""
            INSERT INTO {_s}.{NextTable}(chunk_id, embedding)
            SELECT t.id, t.v FROM unnest(@ids, @vs) AS t(id, v) JOIN {_s}.chunks c ON c.id = t.id
            ON CONFLICT (chunk_id) DO UPDATE SET embedding = excluded.embedding
            """, c, tx))
        {
            insert.Parameters.AddWithValue("ids", vectors.Select(v => v.ChunkId).ToArray());
            insert.Parameters.AddWithValue("vs", vectors.Select(v => new Vector(v.Vector)).ToArray());
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<bool> CompleteReembedAsync(CancellationToken cancellationToken = default)
    {
        var ct = cancellationToken;
        await using var c = await ConnectAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        await LockForWriteAsync(c, tx, ct).ConfigureAwait(false);
        var target = await RequireReembedStartedAsync(c, tx, ct).ConfigureAwait(false);
        if (await CountPendingAsync(c, tx, ct).ConfigureAwait(false) > 0) return false; // rolled back: nothing changed
        await ExecAsync(c, tx, $"""
            DROP TABLE {_s}.vectors;
            ALTER TABLE {_s}.{NextTable} RENAME TO vectors;
            ALTER INDEX {_s}.{NextTable}_pkey RENAME TO vectors_pkey;
            """, ct).ConfigureAwait(false);
        await SetMetaAsync(c, tx, PostgresSchema.KeyEmbeddingModel, target.ModelId, ct).ConfigureAwait(false);
        await SetMetaAsync(c, tx, PostgresSchema.KeyEmbeddingDimensions, target.Dimensions.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
        await ExecAsync(c, tx, $"DELETE FROM {_s}.meta WHERE key = ANY(@k)", ct,
            ("k", new[] { PostgresSchema.KeyReembedModel, PostgresSchema.KeyReembedDimensions })).ConfigureAwait(false);
        await BumpWriteVersionAsync(c, tx, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        _vectorIndexSeen = false; // the old table's index went with it
        return true;
    }

    private Task<int> CountPendingAsync(NpgsqlConnection c, NpgsqlTransaction tx, CancellationToken ct) =>
        PostgresSchema.ScalarAsync<int>(c, tx,
            $"SELECT count(*)::int FROM {_s}.chunks c WHERE NOT EXISTS (SELECT 1 FROM {_s}.{NextTable} n WHERE n.chunk_id = c.id)", ct);

    private async Task<EmbeddingInfo> RequireReembedStartedAsync(NpgsqlConnection c, NpgsqlTransaction? tx, CancellationToken ct) =>
        await ReadModelAsync(c, tx, PostgresSchema.KeyReembedModel, PostgresSchema.KeyReembedDimensions, ct).ConfigureAwait(false)
        ?? throw new InvalidOperationException($"Collection '{Name}' has no re-embedding in progress; call BeginReembedAsync first.");
}
