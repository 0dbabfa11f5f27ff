using System.Text;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// Turns free text into a safe FTS5 MATCH expression: every word becomes a quoted string (so FTS5 operators,
/// column filters and stray quotes in user input mean nothing) and the words are OR-ed, which gives BM25's
/// "any term may match, more matches rank higher" behaviour. English stopwords (Lucene's EnglishAnalyzer list)
/// are dropped unless the query has nothing else: their IDF is near zero, so they barely move BM25 scores, but
/// their long posting lists make every query score most of the collection.
/// </summary>
internal static class FtsQuery
{
    /// <summary>Longer queries are cut to this many distinct words (FTS5 cost grows with each OR branch).</summary>
    public const int MaxTerms = 64;

    private static readonly HashSet<string> s_stopwords = new(StringComparer.Ordinal)
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on",
        "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
    };

    /// <summary>The MATCH expression, or null when the text has no words.</summary>
    public static string? Build(string text)
    {
        var terms = Words(text);
        // A word holds only letters, digits and marks, so wrapping it in double quotes needs no escaping.
        return terms.Count == 0 ? null : string.Join(" OR ", terms.Select(t => "\"" + t + "\""));
    }

    /// <summary>
    /// The words <see cref="Build"/> OR-s together, in order: each is one FTS5 phrase, numbered as FTS5 numbers
    /// them (the order bm25() sums them in).
    /// </summary>
    public static List<string> Words(string text)
    {
        var terms = new List<string>();
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
                if (terms.Count < MaxTerms && seen.Add(w)) terms.Add(w);
            }
        }
        var content = terms.Where(t => !s_stopwords.Contains(t)).ToList();
        return content.Count > 0 ? content : terms;
    }
}
