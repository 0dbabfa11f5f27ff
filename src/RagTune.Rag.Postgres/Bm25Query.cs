using System.Text;

namespace RagTune.Rag.Postgres;

/// <summary>
/// The terms of a keyword query, chosen exactly as the SQLite store's FtsQuery does (so both stores score the same
/// words): words are runs of letters, digits and combining marks, lower-cased, distinct, at most
/// <see cref="MaxTerms"/>; English stopwords (Lucene's EnglishAnalyzer list) are dropped unless nothing else is left.
/// Each word then goes through <see cref="Fts5Tokens"/>, as FTS5 analyses a quoted phrase. Words that stem alike
/// ("trade", "trades") stay separate terms, each adding its BM25 weight, as FTS5's OR of phrases does.
/// </summary>
internal static class Bm25Query
{
    /// <summary>Longer queries are cut to this many distinct words (the SQLite store's limit).</summary>
    public const int MaxTerms = 64;

    private static readonly HashSet<string> s_stopwords = new(StringComparer.Ordinal)
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on",
        "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
    };

    /// <summary>The stemmed query terms, one per query word (repeats possible); empty when the text has no words.</summary>
    public static List<string> Terms(string text)
    {
        var words = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var word = new StringBuilder();
        foreach (var rune in (text + " ").EnumerateRunes())
        {
            if (Rune.IsLetterOrDigit(rune) || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.NonSpacingMark)
            {
                word.Append(rune.ToString());
                continue;
            }
            if (word.Length > 0)
            {
                var w = word.ToString().ToLowerInvariant();
                word.Clear();
                if (words.Count < MaxTerms && seen.Add(w)) words.Add(w);
            }
        }
        var content = words.Where(t => !s_stopwords.Contains(t)).ToList();
        if (content.Count > 0) words = content;
        return words.SelectMany(Fts5Tokens.Tokenize).ToList();
    }
}
