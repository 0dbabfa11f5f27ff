using System.Globalization;
using System.Text;

namespace RagTune.Rag.Postgres;

/// <summary>
/// Words as the SQLite store's FTS5 index sees them (<c>tokenize='porter unicode61 remove_diacritics 2'</c>), so BM25
/// here counts the same terms, lengths and frequencies. unicode61: a token is a run of Unicode letters (L*), numbers
/// (N*) and private-use characters (Co), combining marks continuing a token; folded to lower case with diacritics
/// removed. porter: the original Porter stemmer on the token's UTF-8 bytes, tokens shorter than 3 or longer than 64
/// bytes passed through (SQLite's fts5_tokenize.c). PostgreSQL's own <c>to_tsvector</c> is not used: its Snowball
/// stemmer, stopwords and length rules differ, which would move rankings away from the SQLite store's.
/// </summary>
internal static class Fts5Tokens
{
    /// <summary>The stemmed tokens of <paramref name="text"/>, in order (duplicates kept: they are the term frequencies).</summary>
    public static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var token = new StringBuilder();
        bool inToken = false;
        foreach (var rune in text.EnumerateRunes())
        {
            bool tokenChar = IsTokenChar(rune);
            if (tokenChar || (inToken && IsDiacritic(rune)))
            {
                inToken = true;
                Fold(rune, token);
                continue;
            }
            if (inToken) Emit(token, tokens);
            inToken = false;
        }
        if (inToken) Emit(token, tokens);
        return tokens;
    }

    private static void Emit(StringBuilder token, List<string> tokens)
    {
        if (token.Length > 0) tokens.Add(PorterStemmer.Stem(token.ToString()));
        token.Clear();
    }

    private static bool IsTokenChar(Rune r)
    {
        if (r.IsAscii) return char.IsAsciiLetterOrDigit((char)r.Value);
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                or UnicodeCategory.PrivateUse => true,
            _ => false,
        };
    }

    private static bool IsDiacritic(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark;

    /// <summary>Lower case without diacritics: the canonical decomposition's marks are dropped (remove_diacritics 2).</summary>
    private static void Fold(Rune r, StringBuilder into)
    {
        if (r.IsAscii)
        {
            into.Append((char)Rune.ToLowerInvariant(r).Value);
            return;
        }
        if (IsDiacritic(r)) return;
        var decomposed = r.ToString().Normalize(NormalizationForm.FormD);
        foreach (var part in decomposed.EnumerateRunes())
            if (!IsDiacritic(part)) into.Append(Rune.ToLowerInvariant(part).ToString());
    }
}
