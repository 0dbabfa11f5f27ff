using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// The index term FTS5 makes of a query word (<c>"trades"</c> → <c>trade</c>), found by letting SQLite's own
/// tokenizer (<see cref="SqliteSchema.Tokenizer"/>) analyse it in a private in-memory FTS5 table: stemming done by
/// anything else could differ from the index on some word, and the in-memory keyword index must match exactly the
/// rows and scores of FTS5's <c>MATCH</c>. Answers are cached; the analysis does not depend on any collection.
/// </summary>
internal sealed class Fts5QueryTerms : IDisposable
{
    /// <summary>Cached words before the cache is dropped (a bound on memory, not a tuning knob).</summary>
    private const int MaxCached = 200_000;

    private readonly ConcurrentDictionary<string, string?> _cache = new(StringComparer.Ordinal);
    private readonly object _lock = new();
    private SqliteConnection? _connection;

    /// <summary>The process-wide analyser.</summary>
    public static Fts5QueryTerms Shared { get; } = new();

    /// <summary>
    /// For each word, the single term FTS5 indexes it as, or null where the word makes no term or several (a quoted
    /// word of several tokens is a phrase query, which only FTS5 itself answers).
    /// </summary>
    public string?[] Terms(IReadOnlyList<string> words)
    {
        var result = new string?[words.Count];
        List<int>? missing = null;
        for (int i = 0; i < words.Count; i++)
            if (!_cache.TryGetValue(words[i], out result[i])) (missing ??= []).Add(i);
        if (missing == null) return result;

        lock (_lock)
        {
            var c = _connection ??= OpenAnalyser();
            using var tx = c.BeginTransaction();
            using (var insert = c.CreateCommand())
            {
                insert.Transaction = tx;
                insert.CommandText = "INSERT INTO words(rowid, word) VALUES ($i, $w)";
                var pi = insert.Parameters.Add("$i", SqliteType.Integer);
                var pw = insert.Parameters.Add("$w", SqliteType.Text);
                foreach (int i in missing)
                {
                    pi.Value = i;
                    pw.Value = words[i];
                    insert.ExecuteNonQuery();
                }
            }
            var tokens = new Dictionary<int, List<string>>();
            using (var read = c.CreateCommand())
            {
                read.Transaction = tx;
                read.CommandText = "SELECT doc, term FROM word_tokens ORDER BY doc, offset";
                using var r = read.ExecuteReader();
                while (r.Read())
                {
                    int doc = r.GetInt32(0);
                    if (!tokens.TryGetValue(doc, out var list)) tokens[doc] = list = [];
                    list.Add(r.GetString(1));
                }
            }
            tx.Rollback(); // the table stays empty for the next call
            if (_cache.Count > MaxCached) _cache.Clear();
            foreach (int i in missing)
            {
                result[i] = tokens.TryGetValue(i, out var list) && list.Count == 1 ? list[0] : null;
                _cache[words[i]] = result[i];
            }
        }
        return result;
    }

    private static SqliteConnection OpenAnalyser()
    {
        SqliteChunkStore.EnsureSqlite();
        var c = new SqliteConnection("Data Source=:memory:;Pooling=False");
        c.Open();
        SqliteSchema.Exec(c, null, $"CREATE VIRTUAL TABLE words USING fts5(word, tokenize='{SqliteSchema.Tokenizer}');" +
            "CREATE VIRTUAL TABLE word_tokens USING fts5vocab(words, instance);");
        return c;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _connection?.Dispose();
            _connection = null;
        }
    }
}
