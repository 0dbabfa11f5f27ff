using System.Text;

namespace RagTune.Rag.Store;

/// <summary>
/// The words of a keyword query, chosen the same way by every store so that they score the same terms: runs of
/// letters, digits and combining marks, lower-cased, distinct, in order, at most <see cref="MaxTerms"/>. English
/// stopwords (Lucene's EnglishAnalyzer list) are dropped unless the query has nothing else: their IDF is near zero,
/// so they barely move BM25 scores, but their long posting lists make every query score most of the collection.
/// </summary>
public static class QueryWords
{
    /// <summary>Longer queries are cut to this many distinct words (each one is another scored term).</summary>
    public const int MaxTerms = 64;

    private static readonly HashSet<string> s_stopwords = new(StringComparer.Ordinal)
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on",
        "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
    };

    /// <summary>The query's words; empty when the text has none.</summary>
    public static List<string> Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
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
        return content.Count > 0 ? content : words;
    }
}
