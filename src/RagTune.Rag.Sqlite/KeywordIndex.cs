using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// BM25 top-k over postings held in memory, read from the collection's own FTS5 index, scoring every row exactly as
/// FTS5's <c>bm25()</c> does (the same doubles, so the same order). Why: <c>bm25()</c> is an auxiliary function
/// FTS5 calls once per matching row, fetching that row's instances and size; a title-like query matches ~40% of a
/// 100k-chunk collection, and scoring those rows was ~90% of the query (matching alone is a few ms). Here a term's
/// per-row weight does not depend on the query, so it is computed once per term and a query is a sum of lists.
/// <para>
/// One instance is one snapshot of the index (a collection write version): the row sizes and totals are read
/// whole when the instance is made; a term's postings when a query first needs it, in a transaction at the same
/// write version.
/// </para>
/// </summary>
internal sealed class KeywordIndex
{
    // fts5_aux.c, fts5Bm25Function: k1 = 1.2, b = 0.75;
    // score = Σ_phrases idf · (f · (k1 + 1)) / (f + k1 · (1 − b + b · D / avgdl)), f the column-weighted count.
    private const double K1 = 1.2;
    private const double B = 0.75;

    /// <summary>Postings kept before the term cache is dropped (~12 bytes each; a 100k-chunk collection has ~7M).</summary>
    private const long MaxPostings = 16_000_000;

    private readonly ConcurrentDictionary<string, TermPostings> _terms = new(StringComparer.Ordinal);
    private readonly double _titleWeight;
    private long _postings;

    private KeywordIndex(long writeVersion, double titleWeight, long rowCount, long[] ids, double[] lengthNorm)
    {
        WriteVersion = writeVersion;
        _titleWeight = titleWeight;
        RowCount = rowCount;
        Ids = ids;
        LengthNorm = lengthNorm;
    }

    /// <summary>The collection write version the index was read at.</summary>
    public long WriteVersion { get; }

    /// <summary>FTS5's row count (its "averages" record), the N of the IDF.</summary>
    public long RowCount { get; }

    public long[] Ids { get; }          // [N] chunk ids, ascending
    public double[] LengthNorm { get; } // [N] k1 · (1 − b + b · D / avgdl), D the row's tokens over all columns

    /// <summary>
    /// Reads the row sizes (<c>chunks_fts_docsize</c>) and totals (<c>chunks_fts_data</c> id 1) in
    /// <paramref name="tx"/>, which must be at <paramref name="writeVersion"/>.
    /// </summary>
    public static KeywordIndex Load(SqliteConnection c, SqliteTransaction tx, long writeVersion, double titleWeight)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        // The averages record: varint row count, then one varint token total per column (fts5_index.c).
        cmd.CommandText = "SELECT block FROM chunks_fts_data WHERE id = 1";
        long rows = 0, tokens = 0;
        if (cmd.ExecuteScalar() is byte[] { Length: > 0 } averages) // empty until the first row is indexed
        {
            int at = 0;
            rows = Fts5Varint.Read(averages, ref at);
            while (at < averages.Length) tokens += Fts5Varint.Read(averages, ref at);
        }
        double avgdl = rows > 0 ? (double)tokens / (double)rows : 1;

        cmd.CommandText = "SELECT count(*) FROM chunks_fts_docsize";
        int n = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        var ids = new long[n];
        var norm = new double[n];
        cmd.CommandText = "SELECT id, sz FROM chunks_fts_docsize ORDER BY id";
        using var r = cmd.ExecuteReader();
        int i = 0;
        while (r.Read() && i < n)
        {
            ids[i] = r.GetInt64(0);
            var sz = (byte[])r.GetValue(1);
            long d = 0;
            for (int at = 0; at < sz.Length;) d += Fts5Varint.Read(sz, ref at);
            // Evaluated in fts5Bm25Function's order, so the double is the same.
            norm[i] = K1 * (1 - B + B * (double)d / avgdl);
            i++;
        }
        if (i != n) Array.Resize(ref ids, i);
        return new KeywordIndex(writeVersion, titleWeight, rows, ids, norm);
    }

    /// <summary>
    /// The <paramref name="k"/> best rows for the query whose phrases (one term each, in FTS5's phrase order) are
    /// <paramref name="terms"/>, best first, ties to the lower chunk id: <c>ORDER BY bm25(…), rowid LIMIT k</c>.
    /// Rows whose id is not in <paramref name="allowed"/> are skipped. Postings of terms not yet held are read
    /// through <paramref name="c"/> and <paramref name="tx"/> (at <see cref="WriteVersion"/>).
    /// </summary>
    public List<(long Id, double Score)> TopK(IReadOnlyList<string> terms, int k, HashSet<long>? allowed, SqliteConnection c, SqliteTransaction tx)
    {
        if (k <= 0 || Ids.Length == 0) return [];
        var lists = new TermPostings[terms.Count];
        for (int p = 0; p < terms.Count; p++) lists[p] = Postings(terms[p], c, tx);

        int n = Ids.Length;
        var score = ArrayPool<double>.Shared.Rent(n); // [N] running sum per row
        var touched = new List<int>();
        try
        {
            Array.Clear(score, 0, n);
            // Phrase by phrase, as bm25() adds them: every row sees its sums in the same order, so the same doubles.
            // (A phrase a row lacks adds +0.0 there, which changes nothing.)
            foreach (var list in lists)
            {
                var rows = list.Rows;
                var weights = list.Weights;
                for (int j = 0; j < rows.Length; j++)
                {
                    int row = rows[j];
                    if (score[row] == 0) touched.Add(row); // every weight is > 0 (idf ≥ 1e-6, f ≥ 1)
                    score[row] += weights[j];
                }
            }

            // Min-heap of the best k: the root is the weakest kept row; ties prefer the lower chunk id.
            var heap = new PriorityQueue<long, (double Score, long NegId)>(k + 1);
            foreach (int row in touched)
            {
                long id = Ids[row];
                if (allowed != null && !allowed.Contains(id)) continue;
                var key = (score[row], -id);
                if (heap.Count < k) heap.Enqueue(id, key);
                else if (heap.TryPeek(out _, out var weakest) && key.CompareTo(weakest) > 0) heap.EnqueueDequeue(id, key);
            }
            var result = new List<(long Id, double Score)>(heap.Count);
            while (heap.TryDequeue(out long id, out var key)) result.Add((id, key.Score));
            result.Reverse();
            return result;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(score);
        }
    }

    private TermPostings Postings(string term, SqliteConnection c, SqliteTransaction tx)
    {
        if (_terms.TryGetValue(term, out var held)) return held;
        var loaded = LoadPostings(term, c, tx);
        if (Interlocked.Add(ref _postings, loaded.Rows.Length) > MaxPostings)
        {
            _terms.Clear();
            Interlocked.Exchange(ref _postings, loaded.Rows.Length);
        }
        return _terms.GetOrAdd(term, loaded);
    }

    /// <summary>
    /// One term's rows and weights from FTS5's instance vocabulary (one row per occurrence, in rowid order):
    /// f sums the column weights of its occurrences (title first, as bm25() meets them), then
    /// weight = idf · (f · (k1 + 1)) / (f + norm), idf = ln((N − n + 0.5) / (n + 0.5)), at least 1e-6.
    /// </summary>
    private TermPostings LoadPostings(string term, SqliteConnection c, SqliteTransaction tx)
    {
        var rows = new List<int>();
        var freq = new List<double>();
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT doc, col = 'fts_title' FROM temp.{InstanceVocabulary} WHERE term = $t";
            cmd.Parameters.AddWithValue("$t", term);
            using var r = cmd.ExecuteReader();
            long doc = long.MinValue;
            int row = -1, titles = 0, texts = 0;
            while (r.Read())
            {
                long d = r.GetInt64(0);
                if (d != doc)
                {
                    if (row >= 0) Flush(row, titles, texts);
                    if (d < doc) throw new InvalidOperationException($"FTS5 listed the rows of term '{term}' out of order ({d} after {doc}).");
                    doc = d;
                    row = NextRow(row + 1, d, term);
                    titles = texts = 0;
                }
                if (r.GetInt64(1) != 0) titles++;
                else texts++;
            }
            if (row >= 0) Flush(row, titles, texts);
        }

        double idf = Math.Log((RowCount - rows.Count + 0.5) / (rows.Count + 0.5));
        if (idf <= 0.0) idf = 1e-6;
        var weights = new double[rows.Count];
        for (int j = 0; j < weights.Length; j++)
        {
            double f = freq[j];
            weights[j] = idf * ((f * (K1 + 1.0)) / (f + LengthNorm[rows[j]]));
        }
        return new TermPostings(rows.ToArray(), weights);

        void Flush(int row, int titles, int texts)
        {
            // bm25() adds the weight of each instance in turn (title column first); repeated addition of a
            // non-integer weight need not equal a product, so it is repeated here too.
            double f = 0;
            for (int t = 0; t < titles; t++) f += _titleWeight;
            for (int t = 0; t < texts; t++) f += 1.0;
            rows.Add(row);
            freq.Add(f);
        }
    }

    // The dense row of chunk id, searching forward from row `from` (a term's rows come in id order).
    private int NextRow(int from, long id, string term)
    {
        int at = Array.BinarySearch(Ids, from, Ids.Length - from, id);
        if (at < 0) throw new InvalidOperationException($"FTS5 lists row {id} under term '{term}' but holds no size for it; the keyword index is inconsistent ('INSERT INTO chunks_fts(chunks_fts) VALUES(''rebuild'')' repairs it).");
        return at;
    }

    /// <summary>The per-connection <c>fts5vocab</c> table over <c>chunks_fts</c> (temp schema: the file is not changed).</summary>
    public const string InstanceVocabulary = "ragtune_fts_instance";

    /// <summary>Creates <see cref="InstanceVocabulary"/> on <paramref name="c"/> unless there.</summary>
    public static void EnsureVocabulary(SqliteConnection c) =>
        SqliteSchema.Exec(c, null, $"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{InstanceVocabulary} USING fts5vocab(main, chunks_fts, instance)");

    private sealed record TermPostings(int[] Rows, double[] Weights); // [n] dense rows ascending, [n] bm25 terms
}

/// <summary>SQLite's varint (big-endian 7-bit groups, high bit = more; a 9th byte gives all 8 bits), as FTS5 writes it.</summary>
internal static class Fts5Varint
{
    public static long Read(byte[] data, ref int at)
    {
        ulong v = 0;
        for (int i = 0; i < 8; i++)
        {
            byte b = data[at++];
            v = (v << 7) | (uint)(b & 0x7f);
            if ((b & 0x80) == 0) return (long)v;
        }
        return (long)((v << 8) | data[at++]);
    }
}
