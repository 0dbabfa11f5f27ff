using System.Text;

namespace RagTune.Rag.Text;

/// <summary>A lexical term and where it sits in the analysed string.</summary>
internal readonly record struct TermSpan(string Term, int Start, int End, bool IsStopword);

/// <summary>
/// Lexical analysis shared by reranking, citation verification and extractive answering: words (as
/// <see cref="TokenScanner"/> finds them, punctuation dropped), lower-cased, with a light English suffix strip
/// (plural "s"/"es"/"ies") so "cities" matches "city"; a small English stopword list marks function words.
/// Content terms are the non-stopwords.
/// </summary>
internal static class Terms
{
    private static readonly HashSet<string> s_stopwords = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "and", "or", "but", "if", "then", "else", "of", "in", "on", "at", "to", "for", "from", "by",
        "with", "about", "as", "into", "through", "over", "under", "between", "after", "before", "during", "without",
        "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "doing", "have", "has", "had",
        "having", "it", "its", "it's", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom",
        "whose", "when", "where", "why", "how", "i", "me", "my", "we", "our", "you", "your", "he", "him", "his", "she",
        "her", "they", "them", "their", "not", "no", "nor", "so", "than", "too", "very", "can", "could", "will",
        "would", "shall", "should", "may", "might", "must", "all", "any", "both", "each", "few", "more", "most",
        "other", "some", "such", "only", "own", "same", "just", "also", "up", "down", "out", "off", "again", "once",
        "per", "via", "s", "t", "much", "many",
    };

    /// <summary>True when <paramref name="term"/> (already normalised) is a function word.</summary>
    public static bool IsStopword(string term) => s_stopwords.Contains(term);

    /// <summary>Word terms of <paramref name="text"/> in order, with spans.</summary>
    public static List<TermSpan> Analyze(string text)
    {
        var result = new List<TermSpan>();
        foreach (var t in TokenScanner.Scan(text))
        {
            if (!TokenScanner.IsWordChar(text[t.Start])) continue;
            var word = text.AsSpan(t.Start, t.End - t.Start);
            var term = NormalizeTerm(word);
            // The word is checked before the plural strip too: "does" would otherwise become the content term "doe".
            result.Add(new TermSpan(term, t.Start, t.End, IsStopword(term) || IsStopword(word.ToString().ToLowerInvariant())));
        }
        return result;
    }

    /// <summary>The content (non-stopword) terms of <paramref name="text"/>, in order, with repeats.</summary>
    public static List<string> Content(string text)
    {
        var list = new List<string>();
        foreach (var t in Analyze(text))
            if (!t.IsStopword) list.Add(t.Term);
        return list;
    }

    /// <summary>Distinct content terms.</summary>
    public static HashSet<string> ContentSet(string text) => new(Content(text), StringComparer.Ordinal);

    /// <summary>Lower-cases one word and strips a plural suffix.</summary>
    public static string NormalizeTerm(ReadOnlySpan<char> word)
    {
        var sb = new StringBuilder(word.Length);
        foreach (var c in word)
        {
            if (c is '’') { sb.Append('\''); continue; }
            sb.Append(char.ToLowerInvariant(c));
        }
        var s = sb.ToString();
        if (s.EndsWith("'s", StringComparison.Ordinal)) s = s[..^2];
        if (s.Length > 4 && s.EndsWith("ies", StringComparison.Ordinal)) return s[..^3] + "y";
        if (s.Length > 4 && (s.EndsWith("ches", StringComparison.Ordinal) || s.EndsWith("shes", StringComparison.Ordinal) || s.EndsWith("sses", StringComparison.Ordinal) || s.EndsWith("xes", StringComparison.Ordinal)))
            return s[..^2];
        if (s.Length > 3 && s[^1] == 's' && s[^2] is not ('s' or 'u' or 'i')) return s[..^1];
        return s;
    }

    /// <summary>Fraction of the distinct content terms of <paramref name="queryTerms"/> present in <paramref name="passageTerms"/> (0 when the query has none).</summary>
    public static double Coverage(IReadOnlySet<string> queryTerms, IReadOnlySet<string> passageTerms)
    {
        if (queryTerms.Count == 0) return 0;
        var hit = 0;
        foreach (var t in queryTerms)
            if (passageTerms.Contains(t)) hit++;
        return (double)hit / queryTerms.Count;
    }
}
