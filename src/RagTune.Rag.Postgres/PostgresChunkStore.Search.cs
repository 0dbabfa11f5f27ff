using System.Data;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using Pgvector;
using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres;

// Keyword search is BM25 computed in SQL over the postings table, with FTS5's bm25() formula and constants so both
// stores rank alike: for each query term t (repeats count again, as FTS5's OR of phrases does),
//   idf(t) = max(ln((N − n(t) + 0.5) / (n(t) + 0.5)), 1e-6)
//   score += idf(t) · f·(k1 + 1) / (f + k1·(1 − b + b·|D| / avgdl)),   f = tf_text + titleWeight · tf_title
// with k1 = 1.2, b = 0.75, N the chunks, n(t) the chunks holding t, |D| the chunk's tokens in title and text
// together and avgdl their mean (SQLite's fts5_aux.c). ts_rank is not used: it is not BM25 (no IDF, no length norm).
internal sealed partial class PostgresChunkStore
{
    private const double K1 = 1.2;
    private const double B = 0.75;
    private const double MinIdf = 1e-6;

    /// <inheritdoc />
    public async Task<IReadOnlyList<SearchHit>> SearchKeywordAsync(string query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        filter ??= SearchFilter.None;
        var terms = Bm25Query.Terms(query);
        if (terms.Count == 0 || k <= 0) return [];
        var (filterJoin, filterWhere) = filter.Conditions.Count > 0
            ? ($" JOIN {_s}.documents fd ON fd.id = fc.document_id", " WHERE fd.metadata @> @filter::jsonb")
            : ("", "");
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        // One statement: statistics, ranking and the winning chunks come from one snapshot.
        await using var cmd = new NpgsqlCommand($"""
            WITH q AS (SELECT term, count(*)::float8 AS repeats FROM unnest(@terms) AS t(term) GROUP BY term),
            stats AS (SELECT count(*)::float8 AS n, coalesce(sum(title_tokens + text_tokens), 0)::float8 AS tokens FROM {_s}.chunks),
            idf AS (
                SELECT p.term, max(q.repeats) * greatest(ln((max(st.n) - count(*) + 0.5) / (count(*) + 0.5)), @minIdf) AS w
                FROM {_s}.postings p JOIN q ON q.term = p.term CROSS JOIN stats st GROUP BY p.term),
            ranked AS (
                SELECT p.chunk_id, sum(idf.w * (f.tf * (@k1 + 1)) / (f.tf + @k1 * (1 - @b + @b * (fc.title_tokens + fc.text_tokens) / (st.tokens / st.n)))) AS score
                FROM {_s}.postings p JOIN idf ON idf.term = p.term JOIN {_s}.chunks fc ON fc.id = p.chunk_id{filterJoin}
                CROSS JOIN stats st CROSS JOIN LATERAL (SELECT p.text_tf + @wt * p.title_tf AS tf) f{filterWhere}
                GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT @k)
            SELECT ranked.score, {ChunkColumns}
            FROM ranked JOIN {_s}.chunks c ON c.id = ranked.chunk_id JOIN {_s}.documents d ON d.id = c.document_id
            ORDER BY ranked.score DESC, ranked.chunk_id
            """, c);
        cmd.Parameters.AddWithValue("terms", terms.ToArray());
        cmd.Parameters.AddWithValue("minIdf", MinIdf);
        cmd.Parameters.AddWithValue("k1", K1);
        cmd.Parameters.AddWithValue("b", B);
        cmd.Parameters.AddWithValue("wt", _options.TitleWeight);
        cmd.Parameters.AddWithValue("k", k);
        if (filter.Conditions.Count > 0) cmd.Parameters.AddWithValue("filter", FilterJson(filter));
        return await ReadHitsAsync(cmd, "bm25", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Unfiltered: the HNSW index (approximate; <see cref="PostgresStoreOptions.HnswEfSearch"/> sets the recall, raised
    /// to k), or an exact scan with <see cref="PostgresStoreOptions.ExactVectorSearch"/>. Filtered: always exact over the
    /// documents that pass, since an HNSW scan filters after the fact and can return fewer than k hits.
    /// Score = cosine similarity (1 − pgvector's cosine distance), as the SQLite store's dot product of unit vectors.
    /// </remarks>
    public async Task<IReadOnlyList<SearchHit>> SearchVectorAsync(ReadOnlyMemory<float> query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
    {
        filter ??= SearchFilter.None;
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var embedding = await ReadEmbeddingAsync(c, null, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Collection '{Name}' has no embeddings (it was ingested without an embedding model); use keyword (bm25) search or re-ingest with one.");
        if (query.Length != embedding.Dimensions)
            throw new ArgumentException($"The query vector has {query.Length} dimensions; collection '{Name}' holds {embedding.Dimensions}-dimensional vectors of '{embedding.ModelId}'.", nameof(query));
        if (k <= 0) return [];

        bool exact = _options.ExactVectorSearch || filter.Conditions.Count > 0 || embedding.Dimensions > PostgresSchema.MaxIndexedDimensions
            || !await EnsureVectorIndexAsync(c, embedding.Dimensions, cancellationToken).ConfigureAwait(false);
        string top = exact
            ? $"""
              SELECT chunk_id, 1 - dist AS score FROM (
                  SELECT v.chunk_id, v.embedding <=> @q AS dist FROM {_s}.vectors v
                  {(filter.Conditions.Count > 0 ? $"JOIN {_s}.chunks fc ON fc.id = v.chunk_id JOIN {_s}.documents fd ON fd.id = fc.document_id WHERE fd.metadata @> @filter::jsonb" : "")}
                  OFFSET 0) scanned                      -- OFFSET 0 keeps the planner from turning this into an index scan
              ORDER BY dist, chunk_id LIMIT @k
              """
            : $"SELECT v.chunk_id, 1 - (v.embedding <=> @q) AS score FROM {_s}.vectors v ORDER BY v.embedding <=> @q LIMIT @k";
        await using var tx = await c.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        // SET LOCAL through set_config: parameterised, and scoped to this transaction (a pooled or multiplexed
        // connection keeps no setting of ours).
        await ExecAsync(c, tx, "SELECT set_config('hnsw.ef_search', @ef, true)", cancellationToken,
            ("ef", Math.Min(1000, Math.Max(_options.HnswEfSearch, k)).ToString(CultureInfo.InvariantCulture))).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"""
            WITH top AS ({top})
            SELECT top.score, {ChunkColumns}
            FROM top JOIN {_s}.chunks c ON c.id = top.chunk_id JOIN {_s}.documents d ON d.id = c.document_id
            ORDER BY top.score DESC, top.chunk_id
            """, c, tx);
        cmd.Parameters.AddWithValue("q", new Vector(query));
        cmd.Parameters.AddWithValue("k", k);
        if (filter.Conditions.Count > 0) cmd.Parameters.AddWithValue("filter", FilterJson(filter));
        var hits = await ReadHitsAsync(cmd, "dense", cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return hits;
    }

    /// <summary>
    /// Builds the HNSW index when the vectors have none yet; false when this connection may not (a read-only user or
    /// replica), and the search scans exactly instead. Writes never build it: pgvector builds an index over the rows
    /// present several times faster than it inserts rows into one (its README: create the index after loading the
    /// initial data; PGlite, 10k × 384 on a quiet machine: 76.9 s written into the index, 8.9 s written and 13.8 s
    /// built after), so a bulk ingest writes
    /// at table speed and the first search pays one build. Rows written after that go into the index one by one.
    /// Once seen, the index is not looked up again by this store (<see cref="_vectorIndexSeen"/>).
    /// </summary>
    private async Task<bool> EnsureVectorIndexAsync(NpgsqlConnection c, int dimensions, CancellationToken ct)
    {
        if (_vectorIndexSeen) return true;
        var index = _s + "." + PostgresSchema.Quote(PostgresSchema.VectorIndexName);
        const string Exists = "SELECT to_regclass(@i) IS NOT NULL";
        if (await PostgresSchema.ScalarAsync<bool>(c, null, Exists, ct, ("i", index)).ConfigureAwait(false)) return _vectorIndexSeen = true;
        try
        {
            await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
            await LockForWriteAsync(c, tx, ct).ConfigureAwait(false); // one builder, and no write while it reads the rows
            if (!await PostgresSchema.ScalarAsync<bool>(c, tx, Exists, ct, ("i", index)).ConfigureAwait(false))
                await PostgresSchema.CreateVectorIndexAsync(c, tx, Schema, dimensions, _options, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return _vectorIndexSeen = true;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ReadOnlySqlTransaction)
        {
            return false;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Each term is analysed as keyword search analyses it (<see cref="Fts5Tokens"/>: "trades" counts the chunks
    /// holding "trade"); a term of several words counts the chunks holding all of them. One snapshot for all counts.
    /// </remarks>
    public async Task<TermStatistics> GetTermStatisticsAsync(IReadOnlyCollection<string> terms, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(terms);
        await using var c = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        int chunks = await PostgresSchema.ScalarAsync<int>(c, tx, $"SELECT count(*)::int FROM {_s}.chunks", cancellationToken).ConfigureAwait(false);
        var frequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var term in terms)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (frequency.ContainsKey(term)) continue;
            var tokens = Fts5Tokens.Tokenize(term).Distinct(StringComparer.Ordinal).ToArray();
            frequency[term] = tokens.Length == 0 ? 0 : await PostgresSchema.ScalarAsync<int>(c, tx,
                $"SELECT count(*)::int FROM (SELECT chunk_id FROM {_s}.postings WHERE term = ANY(@t) GROUP BY chunk_id HAVING count(*) = @n) holding",
                cancellationToken, ("t", tokens), ("n", (long)tokens.Length)).ConfigureAwait(false);
        }
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new TermStatistics(chunks, frequency);
    }

    /// <summary>The filter as a JSONB object: containment (<c>@&gt;</c>) of it is equality on every key, any key text allowed.</summary>
    private static string FilterJson(SearchFilter filter)
    {
        foreach (var key in filter.Conditions.Keys)
            if (key.Length == 0) throw new ArgumentException("A filter key is empty; use key=value, e.g. ext=md.", nameof(filter));
        return JsonSerializer.Serialize(filter.Conditions);
    }

    private static async Task<IReadOnlyList<SearchHit>> ReadHitsAsync(NpgsqlCommand cmd, string retriever, CancellationToken ct)
    {
        var hits = new List<SearchHit>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            hits.Add(new SearchHit(ReadChunk(r, 1), r.GetDouble(0), hits.Count + 1, retriever));
        return hits;
    }
}
