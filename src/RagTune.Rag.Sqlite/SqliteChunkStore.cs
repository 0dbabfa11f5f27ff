using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// The embedded store: one SQLite file per collection (WAL mode, so readers never wait for a writer), FTS5
/// <c>bm25()</c> for keyword search and exact cosine search over an in-memory matrix of normalised vectors.
/// Thread-safe: every call opens its own (pooled) connection; writes from this instance are serialised and each
/// batch is one IMMEDIATE transaction, so a process killed midway leaves the file as it was before the batch.
/// </summary>
internal sealed partial class SqliteChunkStore : ICollectionStore
{
    private const string ChunkColumns =
        "c.id, c.document_id, d.source, d.title, c.idx, c.text, c.start, c.\"end\", c.heading_path, c.token_count, d.metadata";

    private static readonly object s_initLock = new();
    private static bool s_initialised;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly object _matrixLock = new();
    private readonly double _titleWeight;
    private readonly bool _inMemoryKeywords;
    private readonly bool _int8VectorFilter;
    private readonly object _keywordLock = new();
    private VectorMatrix? _matrix;
    private KeywordIndex? _keywords;
    private bool _disposed;

    private SqliteChunkStore(string name, string path, SqliteStoreOptions options)
    {
        Name = name;
        FilePath = path;
        _titleWeight = options.TitleWeight;
        _inMemoryKeywords = options.InMemoryKeywordIndex;
        _int8VectorFilter = options.Int8VectorFilter;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, Pooling = true }.ToString();
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The collection's SQLite file.</summary>
    public string FilePath { get; }

    /// <inheritdoc />
    public EmbeddingInfo? Embedding
    {
        get
        {
            using var c = Connect();
            return ReadEmbedding(c, null);
        }
    }

    /// <summary>
    /// Opens collection <paramref name="name"/> under the options' data directory, creating it when
    /// <paramref name="create"/> is true and it does not exist.
    /// </summary>
    /// <exception cref="CollectionNotFoundException">It does not exist and <paramref name="create"/> is false.</exception>
    /// <exception cref="CollectionFormatException">The file is not a RagTune collection, or is from a newer version.</exception>
    public static SqliteChunkStore Open(string name, SqliteStoreOptions? options = null, bool create = true)
    {
        options ??= new SqliteStoreOptions();
        var path = options.CollectionPath(name);
        if (!create && !File.Exists(path))
            throw new CollectionNotFoundException($"There is no collection '{name}' in {options.CollectionsDirectory}; see 'ragtune collections list' or create it with 'ragtune ingest'.");
        return OpenFile(name, path, options);
    }

    /// <summary>Opens (or creates) the collection file at <paramref name="path"/>.</summary>
    public static SqliteChunkStore OpenFile(string name, string path, SqliteStoreOptions? options = null)
    {
        EnsureSqlite();
        options ??= new SqliteStoreOptions();
        path = Path.GetFullPath(path);
        bool initialised = File.Exists(path) && SqliteSchema.Check(path);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var store = new SqliteChunkStore(name, path, options);
        using (var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString()))
        {
            c.Open();
            if (!initialised)
            {
                SqliteSchema.Exec(c, null, "PRAGMA busy_timeout=30000; PRAGMA journal_mode=WAL;");
                SqliteSchema.Create(c);
                SqliteSchema.Check(path); // another process may have created something else there meanwhile
            }
        }
        return store;
    }

    /// <summary>Loads the bundled SQLite (once per process).</summary>
    internal static void EnsureSqlite()
    {
        lock (s_initLock)
        {
            if (s_initialised) return;
            SQLitePCL.Batteries.Init();
            s_initialised = true;
        }
    }

    private SqliteConnection Connect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var c = new SqliteConnection(_connectionString);
        c.Open();
        // NORMAL is durable across process crashes in WAL mode (only power loss can drop the last commits).
        SqliteSchema.Exec(c, null, "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;");
        return c;
    }

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, DocumentState>> GetDocumentStatesAsync(CancellationToken cancellationToken = default)
    {
        using var c = Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT d.id, d.source, d.hash, d.updated_at, (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)
            FROM documents d
            """;
        var result = new Dictionary<string, DocumentState>(StringComparer.Ordinal);
        using var r = cmd.ExecuteReader();
        while (r.Read())
            result[r.GetString(0)] = new DocumentState(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(4),
                DateTimeOffset.Parse(r.GetString(3), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
        return Task.FromResult<IReadOnlyDictionary<string, DocumentState>>(result);
    }

    /// <inheritdoc />
    public async Task WriteBatchAsync(IReadOnlyList<DocumentWrite> batch, EmbeddingInfo? embedding, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        DocumentWrite.ValidateBatch(batch, embedding);
        cancellationToken.ThrowIfCancellationRequested();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var c = Connect();
            using var tx = c.BeginTransaction(deferred: false);
            var stored = ReadEmbedding(c, tx);
            bool anyVectors = batch.Any(w => w.Embeddings != null);
            if (anyVectors)
            {
                if (stored != null && stored != embedding)
                    throw new InvalidOperationException(
                        $"Collection '{Name}' holds vectors of '{stored.ModelId}' ({stored.Dimensions} dimensions); this batch is from '{embedding!.ModelId}' ({embedding.Dimensions}). " +
                        "Re-create the collection to change the embedding model.");
                if (stored == null)
                {
                    SetMeta(c, tx, SqliteSchema.KeyEmbeddingModel, embedding!.ModelId);
                    SetMeta(c, tx, SqliteSchema.KeyEmbeddingDimensions, embedding.Dimensions.ToString(CultureInfo.InvariantCulture));
                }
            }

            using var deleteFts = Command(c, tx, "INSERT INTO chunks_fts(chunks_fts, rowid, fts_title, text) SELECT 'delete', id, fts_title, text FROM chunks WHERE document_id = $id", "$id");
            using var deleteVectors = Command(c, tx, "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id = $id)", "$id");
            using var deleteChunks = Command(c, tx, "DELETE FROM chunks WHERE document_id = $id", "$id");
            using var upsertDoc = Command(c, tx, """
                INSERT INTO documents(id, source, title, hash, metadata, updated_at) VALUES ($id, $source, $title, $hash, $metadata, $updated)
                ON CONFLICT(id) DO UPDATE SET source = excluded.source, title = excluded.title, hash = excluded.hash,
                    metadata = excluded.metadata, updated_at = excluded.updated_at
                """, "$id", "$source", "$title", "$hash", "$metadata", "$updated");
            using var insertChunk = Command(c, tx, """
                INSERT INTO chunks(document_id, idx, text, start, "end", heading_path, token_count, fts_title)
                VALUES ($doc, $idx, $text, $start, $end, $headings, $tokens, $ftsTitle) RETURNING id
                """, "$doc", "$idx", "$text", "$start", "$end", "$headings", "$tokens", "$ftsTitle");
            using var insertFts = Command(c, tx, "INSERT INTO chunks_fts(rowid, fts_title, text) VALUES ($id, $ftsTitle, $text)", "$id", "$ftsTitle", "$text");
            using var insertVector = Command(c, tx, "INSERT INTO vectors(chunk_id, vector) VALUES ($id, $vector)", "$id", "$vector");

            var now = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
            foreach (var write in batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var doc = write.Document;
                deleteFts.Parameters[0].Value = doc.Id; deleteFts.ExecuteNonQuery();
                deleteVectors.Parameters[0].Value = doc.Id; deleteVectors.ExecuteNonQuery();
                deleteChunks.Parameters[0].Value = doc.Id; deleteChunks.ExecuteNonQuery();
                Set(upsertDoc, doc.Id, doc.Source, doc.Title, doc.ContentHash, JsonSerializer.Serialize(doc.Metadata), now);
                upsertDoc.ExecuteNonQuery();
                for (int i = 0; i < write.Chunks.Count; i++)
                {
                    var chunk = write.Chunks[i];
                    string ftsTitle = chunk.HeadingPath.Count == 0 ? doc.Title : doc.Title + " \n " + string.Join(" \n ", chunk.HeadingPath);
                    Set(insertChunk, doc.Id, chunk.Index, chunk.Text, chunk.Start, chunk.End, JsonSerializer.Serialize(chunk.HeadingPath), chunk.TokenCount, ftsTitle);
                    long id = Convert.ToInt64(insertChunk.ExecuteScalar(), CultureInfo.InvariantCulture);
                    Set(insertFts, id, ftsTitle, chunk.Text);
                    insertFts.ExecuteNonQuery();
                    if (write.Embeddings is { } vectors)
                    {
                        var v = vectors[i].ToArray();
                        VectorMatrix.Normalize(v);
                        Set(insertVector, id, VectorMatrix.ToBlob(v));
                        insertVector.ExecuteNonQuery();
                    }
                }
            }
            BumpWriteVersion(c, tx);
            tx.Commit();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task DeleteDocumentsAsync(IReadOnlyCollection<string> documentIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentIds);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var c = Connect();
            using var tx = c.BeginTransaction(deferred: false);
            using var deleteFts = Command(c, tx, "INSERT INTO chunks_fts(chunks_fts, rowid, fts_title, text) SELECT 'delete', id, fts_title, text FROM chunks WHERE document_id = $id", "$id");
            using var deleteVectors = Command(c, tx, "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id = $id)", "$id");
            using var deleteChunks = Command(c, tx, "DELETE FROM chunks WHERE document_id = $id", "$id");
            using var deleteDoc = Command(c, tx, "DELETE FROM documents WHERE id = $id", "$id");
            foreach (var id in documentIds)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var cmd in new[] { deleteFts, deleteVectors, deleteChunks, deleteDoc })
                {
                    cmd.Parameters[0].Value = id;
                    cmd.ExecuteNonQuery();
                }
            }
            BumpWriteVersion(c, tx);
            tx.Commit();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SearchHit>> SearchKeywordAsync(string query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        filter ??= SearchFilter.None;
        var words = FtsQuery.Words(query);
        if (words.Count == 0 || k <= 0) return Task.FromResult<IReadOnlyList<SearchHit>>([]);
        using var c = Connect();
        var terms = _inMemoryKeywords ? Fts5QueryTerms.Shared.Terms(words) : null;
        if (terms != null && Array.TrueForAll(terms, t => t != null))
        {
            KeywordIndex.EnsureVocabulary(c);
            using var tx = c.BeginTransaction(deferred: true); // sizes, postings and chunks from one snapshot
            var index = GetKeywordIndex(c, tx);
            var allowed = filter.Conditions.Count > 0 ? AllowedChunks(c, tx, filter) : null;
            return Task.FromResult(KeywordHits(c, tx, index.TopK(terms!, k, allowed, c, tx)));
        }
        return Task.FromResult(SearchFts5(c, FtsQuery.Build(query)!, k, filter));
    }

    /// <summary>The reference BM25 path: FTS5 scores every matching row with <c>bm25()</c>.</summary>
    private IReadOnlyList<SearchHit> SearchFts5(SqliteConnection c, string match, int k, SearchFilter filter)
    {
        using var tx = c.BeginTransaction(deferred: true); // ranking and reading see one snapshot
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        // Rank inside FTS5 first (no joins while scoring every match), then read the k winning chunks.
        // bm25() is lower-is-better (negative); the hit's score is its negation so higher is better.
        // (Calling bm25() directly measured ~1.8x faster than the equivalent "rank MATCH 'bm25(…)'" form.)
        var sql = new StringBuilder("SELECT rowid, bm25(chunks_fts, $wt, 1.0) AS score FROM chunks_fts WHERE chunks_fts MATCH $match");
        if (filter.Conditions.Count > 0)
        {
            sql.Append(" AND rowid IN (SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE 1");
            AppendFilter(sql, cmd, filter);
            sql.Append(')');
        }
        sql.Append(" ORDER BY score, rowid LIMIT $k");
        cmd.CommandText = sql.ToString();
        cmd.Parameters.AddWithValue("$wt", _titleWeight);
        cmd.Parameters.AddWithValue("$match", match);
        cmd.Parameters.AddWithValue("$k", k);
        var ranked = new List<(long Id, double Score)>();
        using (var r = cmd.ExecuteReader())
            while (r.Read()) ranked.Add((r.GetInt64(0), -r.GetDouble(1)));
        return KeywordHits(c, tx, ranked);
    }

    private static IReadOnlyList<SearchHit> KeywordHits(SqliteConnection c, SqliteTransaction tx, List<(long Id, double Score)> ranked)
    {
        var chunks = ReadChunks(c, ranked.Select(x => x.Id).ToList(), tx);
        var hits = new List<SearchHit>(ranked.Count);
        foreach (var (id, score) in ranked)
            if (chunks.TryGetValue(id, out var chunk))
                hits.Add(new SearchHit(chunk, score, hits.Count + 1, "bm25"));
        return hits;
    }

    /// <summary>The keyword index last read (for tests: null until a query used it).</summary>
    internal KeywordIndex? HeldKeywordIndex => _keywords;

    // The in-memory keyword index at the snapshot of tx: reused while the write version is unchanged.
    private KeywordIndex GetKeywordIndex(SqliteConnection c, SqliteTransaction tx)
    {
        long version = ReadWriteVersion(c, tx);
        lock (_keywordLock)
        {
            if (_keywords is { } held && held.WriteVersion == version) return held;
            var index = KeywordIndex.Load(c, tx, version, _titleWeight);
            _keywords = index;
            return index;
        }
    }

    private static HashSet<long> AllowedChunks(SqliteConnection c, SqliteTransaction? tx, SearchFilter filter)
    {
        using var f = c.CreateCommand();
        f.Transaction = tx;
        var sql = new StringBuilder("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE 1");
        AppendFilter(sql, f, filter);
        f.CommandText = sql.ToString();
        var allowed = new HashSet<long>();
        using var fr = f.ExecuteReader();
        while (fr.Read()) allowed.Add(fr.GetInt64(0));
        return allowed;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SearchHit>> SearchVectorAsync(ReadOnlyMemory<float> query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
    {
        filter ??= SearchFilter.None;
        using var c = Connect();
        var embedding = ReadEmbedding(c, null)
            ?? throw new InvalidOperationException($"Collection '{Name}' has no embeddings (it was ingested without an embedding model); use keyword (bm25) search or re-ingest with one.");
        if (query.Length != embedding.Dimensions)
            throw new ArgumentException($"The query vector has {query.Length} dimensions; collection '{Name}' holds {embedding.Dimensions}-dimensional vectors of '{embedding.ModelId}'.", nameof(query));
        if (k <= 0) return Task.FromResult<IReadOnlyList<SearchHit>>([]);

        var matrix = GetMatrix(c, embedding);
        var allowed = filter.Conditions.Count > 0 ? AllowedChunks(c, null, filter) : null;
        var q = query.ToArray();
        VectorMatrix.Normalize(q);
        var top = _int8VectorFilter ? matrix.TopKInt8Filtered(q, k, allowed, out _) : matrix.TopK(q, k, allowed);
        var chunks = ReadChunks(c, top.Select(t => t.Id).ToList());
        var hits = new List<SearchHit>(top.Count);
        foreach (var (id, score) in top)
            if (chunks.TryGetValue(id, out var chunk)) // a row deleted since the matrix was read is skipped
                hits.Add(new SearchHit(chunk, score, hits.Count + 1, "dense"));
        return Task.FromResult<IReadOnlyList<SearchHit>>(hits);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Counted by the FTS5 index itself (a quoted phrase per term), so a term is analysed exactly as BM25 search
    /// analyses it: "trades" and "trade" count the same chunks. One snapshot for all counts.
    /// </remarks>
    public Task<TermStatistics> GetTermStatisticsAsync(IReadOnlyCollection<string> terms, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(terms);
        using var c = Connect();
        using var tx = c.BeginTransaction(deferred: true);
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT count(*) FROM chunks";
        var chunks = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        cmd.CommandText = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH $match";
        var match = cmd.Parameters.Add("$match", SqliteType.Text);
        var frequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var term in terms)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (frequency.ContainsKey(term)) continue;
            if (!term.Any(char.IsLetterOrDigit)) { frequency[term] = 0; continue; } // FTS5 would find no word in it
            // A phrase in double quotes ("" inside) means the words alone: no FTS5 operator or column filter.
            match.Value = "\"" + term.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
            frequency[term] = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
        return Task.FromResult(new TermStatistics(chunks, frequency));
    }

    /// <inheritdoc />
    public Task<StoredChunk?> GetChunkAsync(long chunkId, CancellationToken cancellationToken = default)
    {
        using var c = Connect();
        var found = ReadChunks(c, [chunkId]);
        return Task.FromResult(found.TryGetValue(chunkId, out var chunk) ? chunk : null);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<StoredChunk>> GetAllChunksAsync(CancellationToken cancellationToken = default)
    {
        using var c = Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {ChunkColumns} FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY d.id, c.id";
        using var r = cmd.ExecuteReader();
        var result = new List<StoredChunk>();
        while (r.Read()) result.Add(ReadChunk(r));
        return Task.FromResult<IReadOnlyList<StoredChunk>>(result);
    }

    /// <inheritdoc />
    public Task<CollectionStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        using var c = Connect();
        using var tx = c.BeginTransaction(deferred: true); // one snapshot for all counts
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), (SELECT count(*) FROM vectors), (SELECT value FROM meta WHERE key = 'schema_version')";
        using var r = cmd.ExecuteReader();
        r.Read();
        int docs = r.GetInt32(0), chunks = r.GetInt32(1), vectors = r.GetInt32(2);
        int version = int.Parse(r.GetString(3), CultureInfo.InvariantCulture);
        r.Close();
        var embedding = ReadEmbedding(c, tx);
        return Task.FromResult(new CollectionStats(Name, docs, chunks, vectors, FileBytes(FilePath), embedding, version));
    }

    /// <summary>The collection file plus its write-ahead log.</summary>
    public static long FileBytes(string path) =>
        new[] { path, path + "-wal" }.Where(File.Exists).Sum(p => new FileInfo(p).Length);

    private VectorMatrix GetMatrix(SqliteConnection c, EmbeddingInfo embedding)
    {
        using var tx = c.BeginTransaction(deferred: true);
        long version = ReadWriteVersion(c, tx);
        lock (_matrixLock)
        {
            if (_matrix is { } m && m.WriteVersion == version && m.Dimensions == embedding.Dimensions) return m;
        }
        using var count = c.CreateCommand();
        count.Transaction = tx;
        count.CommandText = "SELECT count(*) FROM vectors";
        int n = Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
        int dim = embedding.Dimensions;
        var ids = new long[n];
        var data = new float[(long)n * dim];
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT chunk_id, vector FROM vectors ORDER BY chunk_id";
        using var r = cmd.ExecuteReader();
        int row = 0;
        var bytes = new byte[dim * sizeof(float)];
        while (r.Read())
        {
            ids[row] = r.GetInt64(0);
            long got = r.GetBytes(1, 0, bytes, 0, bytes.Length);
            if (got != bytes.Length) throw new CollectionFormatException($"'{FilePath}': the vector of chunk {ids[row]} has {got} bytes; {dim} dimensions need {bytes.Length}.");
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).CopyTo(data.AsSpan(row * dim, dim));
            row++;
        }
        var matrix = new VectorMatrix(version, dim, ids, data);
        lock (_matrixLock) _matrix = matrix;
        return matrix;
    }

    private static Dictionary<long, StoredChunk> ReadChunks(SqliteConnection c, IReadOnlyList<long> ids, SqliteTransaction? tx = null)
    {
        var result = new Dictionary<long, StoredChunk>();
        if (ids.Count == 0) return result;
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        var sql = new StringBuilder($"SELECT {ChunkColumns} FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN (");
        for (int i = 0; i < ids.Count; i++)
        {
            sql.Append(i == 0 ? "" : ",").Append("$i").Append(i);
            cmd.Parameters.AddWithValue("$i" + i.ToString(CultureInfo.InvariantCulture), ids[i]);
        }
        cmd.CommandText = sql.Append(')').ToString();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var chunk = ReadChunk(r);
            result[chunk.ChunkId] = chunk;
        }
        return result;
    }

    private static StoredChunk ReadChunk(SqliteDataReader r)
    {
        var headings = JsonSerializer.Deserialize<List<string>>(r.GetString(8)) ?? [];
        var metadata = JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(10)) ?? [];
        var chunk = new Chunk(r.GetInt32(4), r.GetString(5), r.GetInt32(6), r.GetInt32(7), headings, r.GetInt32(9));
        return new StoredChunk(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), chunk, metadata);
    }

    private static void AppendFilter(StringBuilder sql, SqliteCommand cmd, SearchFilter filter)
    {
        int i = 0;
        foreach (var (key, value) in filter.Conditions)
        {
            if (key.Length == 0)
                throw new ArgumentException("A filter key must not be empty.", nameof(filter));
            var p = i.ToString(CultureInfo.InvariantCulture);
            // json_each, not json_extract with a path: System.Text.Json escapes keys as it writes them (an apostrophe,
            // '+', '<', every non-ASCII letter become \uXXXX), and a path matches the escaped text, while json_each
            // yields each key unescaped, so any key a document was written with is found, quotes included.
            sql.Append(CultureInfo.InvariantCulture,
                $" AND EXISTS (SELECT 1 FROM json_each(d.metadata) m WHERE m.key = $fk{p} AND m.type = 'text' AND m.value = $fv{p})");
            cmd.Parameters.AddWithValue("$fk" + p, key);
            cmd.Parameters.AddWithValue("$fv" + p, value);
            i++;
        }
    }

    private static EmbeddingInfo? ReadEmbedding(SqliteConnection c, SqliteTransaction? tx)
    {
        var model = GetMeta(c, tx, SqliteSchema.KeyEmbeddingModel);
        var dims = GetMeta(c, tx, SqliteSchema.KeyEmbeddingDimensions);
        return model != null && int.TryParse(dims, NumberStyles.Integer, CultureInfo.InvariantCulture, out int d) ? new EmbeddingInfo(model, d) : null;
    }

    private static long ReadWriteVersion(SqliteConnection c, SqliteTransaction? tx) =>
        long.Parse(GetMeta(c, tx, SqliteSchema.KeyWriteVersion) ?? "0", CultureInfo.InvariantCulture);

    private static void BumpWriteVersion(SqliteConnection c, SqliteTransaction tx) =>
        SetMeta(c, tx, SqliteSchema.KeyWriteVersion, (ReadWriteVersion(c, tx) + 1).ToString(CultureInfo.InvariantCulture));

    private static string? GetMeta(SqliteConnection c, SqliteTransaction? tx, string key)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT value FROM meta WHERE key = $k";
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() as string;
    }

    private static void SetMeta(SqliteConnection c, SqliteTransaction tx, string key, string value)
    {
        using var cmd = Command(c, tx, "INSERT INTO meta(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value", "$k", "$v");
        Set(cmd, key, value);
        cmd.ExecuteNonQuery();
    }

    private static SqliteCommand Command(SqliteConnection c, SqliteTransaction tx, string sql, params string[] parameters)
    {
        var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var p in parameters) cmd.Parameters.Add(new SqliteParameter(p, null));
        cmd.Prepare();
        return cmd;
    }

    private static void Set(SqliteCommand cmd, params object?[] values)
    {
        for (int i = 0; i < values.Length; i++) cmd.Parameters[i].Value = values[i] ?? DBNull.Value;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _writeLock.Dispose();
        lock (_matrixLock) _matrix = null;
        lock (_keywordLock) _keywords = null;
    }
}
