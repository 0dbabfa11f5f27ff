using Microsoft.Data.Sqlite;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>The BM25 analysis (<see cref="Fts5Tokens"/>) must produce exactly the terms SQLite's FTS5 index holds.</summary>
public sealed class Fts5TokensTests
{
    [Theory]
    [InlineData("caresses", "caress")]
    [InlineData("ponies", "poni")]
    [InlineData("cats", "cat")]
    [InlineData("agreed", "agre")]
    [InlineData("plastered", "plaster")]
    [InlineData("motoring", "motor")]
    [InlineData("hopping", "hop")]
    [InlineData("filing", "file")]
    [InlineData("happy", "happi")]
    [InlineData("relational", "relat")]
    [InlineData("generalization", "gener")]
    [InlineData("electricity", "electr")]
    [InlineData("adjustment", "adjust")]
    [InlineData("controlling", "control")]
    [InlineData("is", "is")]                // under 3 bytes: unchanged
    [InlineData("naïve", "naiv")]           // diacritics removed before stemming
    public void Porter_stems_as_fts5(string word, string stem) => Assert.Equal(stem, Assert.Single(Fts5Tokens.Tokenize(word)));

    [Fact]
    public void Words_split_on_anything_but_letters_digits_and_private_use()
    {
        Assert.Equal(["don", "t", "x2", "c", "αβ", "ii"], Fts5Tokens.Tokenize("Don't x2 C# Αβ ii"));
        Assert.Equal(["e", "coli", "il", "6"], Fts5Tokens.Tokenize("E. coli IL-6"));
        Assert.Empty(Fts5Tokens.Tokenize(" -- ** "));
    }

    [Fact]
    public void Query_terms_follow_the_sqlite_store_word_rules()
    {
        Assert.Equal(["what", "c", "x2", "cafe"], Bm25Query.Terms("What is C#? \"x2\" is café")); // stopword "is" dropped
        Assert.Equal(["the", "of"], Bm25Query.Terms("The of the"));                                 // unless all are stopwords
        Assert.Equal(["trade", "trade"], Bm25Query.Terms("trade trades"));                        // both phrases count, as in FTS5
        Assert.Empty(Bm25Query.Terms("--- ***"));
    }

    [Fact]
    public void Every_term_and_count_equals_sqlite_fts5_on_real_abstracts()
    {
        var docs = SciFactSample.Documents(1500);
        SQLitePCL.Batteries.Init();
        using var c = new SqliteConnection("Data Source=:memory:");
        c.Open();
        using (var create = c.CreateCommand())
        {
            create.CommandText = """
                CREATE VIRTUAL TABLE t USING fts5(title, text, tokenize='porter unicode61 remove_diacritics 2');
                CREATE VIRTUAL TABLE v USING fts5vocab('t', 'row');
                """;
            create.ExecuteNonQuery();
        }
        using (var tx = c.BeginTransaction())
        using (var insert = c.CreateCommand())
        {
            insert.Transaction = tx;
            insert.CommandText = "INSERT INTO t(title, text) VALUES ($a, $b)";
            var a = insert.Parameters.Add("$a", SqliteType.Text);
            var b = insert.Parameters.Add("$b", SqliteType.Text);
            foreach (var d in docs)
            {
                a.Value = d.Title;
                b.Value = d.Text;
                insert.ExecuteNonQuery();
            }
            tx.Commit();
        }
        var fts = new Dictionary<string, (long Docs, long Count)>(StringComparer.Ordinal);
        using (var read = c.CreateCommand())
        {
            read.CommandText = "SELECT term, doc, cnt FROM v";
            using var r = read.ExecuteReader();
            while (r.Read()) fts[r.GetString(0)] = (r.GetInt64(1), r.GetInt64(2));
        }

        var ours = new Dictionary<string, (long Docs, long Count)>(StringComparer.Ordinal);
        foreach (var d in docs)
            foreach (var g in Fts5Tokens.Tokenize(d.Title).Concat(Fts5Tokens.Tokenize(d.Text)).GroupBy(t => t, StringComparer.Ordinal))
                ours[g.Key] = ours.TryGetValue(g.Key, out var x) ? (x.Docs + 1, x.Count + g.Count()) : (1, g.Count());

        var differ = fts.Keys.Union(ours.Keys)
            .Where(t => fts.GetValueOrDefault(t) != ours.GetValueOrDefault(t))
            .Take(20).Select(t => $"{t}: fts5 {fts.GetValueOrDefault(t)} ours {ours.GetValueOrDefault(t)}").ToList();
        Assert.True(differ.Count == 0, $"{differ.Count}+ terms differ from FTS5 over {docs.Count} abstracts ({fts.Count} terms): {string.Join("; ", differ)}");
    }
}
