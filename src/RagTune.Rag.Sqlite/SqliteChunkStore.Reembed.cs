using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Rag.Sqlite;

// Re-embedding stages the new model's vectors in vectors_next (created on first use; older files simply lack it)
// and names the model in meta under reembed_model / reembed_dimensions. Live vectors and embedding_model change only
// in CompleteReembedAsync's transaction.
internal sealed partial class SqliteChunkStore
{
    private const string KeyReembedModel = "reembed_model";
    private const string KeyReembedDimensions = "reembed_dimensions";
    private const string PendingWhere = "c.id NOT IN (SELECT chunk_id FROM vectors_next)";

    /// <inheritdoc />
    public async Task<ReembedState> BeginReembedAsync(EmbeddingInfo target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var c = Connect();
            using var tx = c.BeginTransaction(deferred: false);
            SqliteSchema.Exec(c, tx, "CREATE TABLE IF NOT EXISTS vectors_next(chunk_id INTEGER PRIMARY KEY, vector BLOB NOT NULL)");
            if (ReadReembedTarget(c, tx) != target)
            {
                SqliteSchema.Exec(c, tx, "DELETE FROM vectors_next");
                SetMeta(c, tx, KeyReembedModel, target.ModelId);
                SetMeta(c, tx, KeyReembedDimensions, target.Dimensions.ToString(CultureInfo.InvariantCulture));
            }
            var state = new ReembedState(Count(c, tx, $"SELECT count(*) FROM chunks c WHERE {PendingWhere}"),
                Count(c, tx, "SELECT count(*) FROM vectors_next WHERE chunk_id IN (SELECT id FROM chunks)"));
            tx.Commit();
            return state;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ReembedChunk>> PendingReembedAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        cancellationToken.ThrowIfCancellationRequested();
        using var c = Connect();
        RequireReembedStarted(c);
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT c.id, d.title, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE {PendingWhere} ORDER BY c.id LIMIT $n";
        cmd.Parameters.AddWithValue("$n", limit);
        var result = new List<ReembedChunk>();
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
            result.Add(new ReembedChunk(reader.GetInt64(0), reader.GetString(1), JsonSerializer.Deserialize<string[]>(reader.GetString(2)) ?? [], reader.GetString(3)));
        return Task.FromResult<IReadOnlyList<ReembedChunk>>(result);
    }

    /// <inheritdoc />
    public async Task StageVectorsAsync(IReadOnlyList<(long ChunkId, float[] Vector)> vectors, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var c = Connect();
            using var tx = c.BeginTransaction(deferred: false);
            var target = RequireReembedStarted(c, tx);
            using var insert = Command(c, tx, "INSERT OR REPLACE INTO vectors_next(chunk_id, vector) VALUES ($id, $vector)", "$id", "$vector");
            foreach (var (id, vector) in vectors)
            {
                if (vector.Length != target.Dimensions)
                    throw new ArgumentException($"Chunk {id}: a {vector.Length}-dimensional vector; '{target.ModelId}' makes {target.Dimensions}.", nameof(vectors));
                var v = (float[])vector.Clone();
                VectorMatrix.Normalize(v);
                Set(insert, id, VectorMatrix.ToBlob(v));
                insert.ExecuteNonQuery();
            }
            tx.Commit();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<bool> CompleteReembedAsync(CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var c = Connect();
            using var tx = c.BeginTransaction(deferred: false);
            var target = RequireReembedStarted(c, tx);
            if (Count(c, tx, $"SELECT count(*) FROM chunks c WHERE {PendingWhere}") > 0) return false;
            SqliteSchema.Exec(c, tx, """
                DELETE FROM vectors;
                INSERT INTO vectors(chunk_id, vector) SELECT chunk_id, vector FROM vectors_next WHERE chunk_id IN (SELECT id FROM chunks);
                DELETE FROM vectors_next;
                """);
            SetMeta(c, tx, SqliteSchema.KeyEmbeddingModel, target.ModelId);
            SetMeta(c, tx, SqliteSchema.KeyEmbeddingDimensions, target.Dimensions.ToString(CultureInfo.InvariantCulture));
            using (var delete = Command(c, tx, "DELETE FROM meta WHERE key IN ($a, $b)", "$a", "$b"))
            {
                Set(delete, KeyReembedModel, KeyReembedDimensions);
                delete.ExecuteNonQuery();
            }
            BumpWriteVersion(c, tx);
            tx.Commit();
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private static EmbeddingInfo? ReadReembedTarget(SqliteConnection c, SqliteTransaction? tx) =>
        GetMeta(c, tx, KeyReembedModel) is { } model && int.TryParse(GetMeta(c, tx, KeyReembedDimensions), NumberStyles.Integer, CultureInfo.InvariantCulture, out int dims)
            ? new EmbeddingInfo(model, dims) : null;

    private EmbeddingInfo RequireReembedStarted(SqliteConnection c, SqliteTransaction? tx = null) =>
        ReadReembedTarget(c, tx) ?? throw new InvalidOperationException($"Collection '{Name}' has no re-embedding in progress; call BeginReembedAsync first.");

    private static int Count(SqliteConnection c, SqliteTransaction? tx, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }
}
