using System.Globalization;
using System.Text;

namespace RagTune.Rag.Postgres;

/// <summary>
/// Words as the SQLite store's FTS5 index sees them (<c>tokenize='porter unicode61 remove_diacritics 2'</c>), so BM25
/// here counts the same terms, lengths and frequencies. unicode61: a token is a run of Unicode letters (L*), numbers
/// (N*) and private-use characters (Co), diacritics continuing a token; folded to lower case with diacritics
/// removed. Where SQLite's Unicode tables (Unicode 6.1, its own folding) disagree with .NET's, the generated table
/// <c>s_fold</c> (Fts5Fold.g.cs, read from SQLite itself by dev/fts5/make_fold_table.py) decides. porter: the
/// original Porter stemmer on the token's UTF-8 bytes (<see cref="PorterStemmer"/>). PostgreSQL's own
/// <c>to_tsvector</c> is not used: its Snowball stemmer, stopwords and length rules differ, which would move
/// rankings away from the SQLite store's.
/// </summary>
internal static partial class Fts5Tokens
{
    /// <summary>The stemmed tokens of <paramref name="text"/>, in order (duplicates kept: they are the term frequencies).</summary>
    public static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var token = new StringBuilder();
        bool inToken = false;
        foreach (var rune in text.EnumerateRunes())
        {
            var (kind, folded) = Classify(rune);
            if (kind == Kind.TokenChar || (inToken && kind == Kind.Diacritic))
            {
                inToken = true;
                token.Append(folded);
                continue;
            }
            if (inToken) Emit(token, tokens);
            inToken = false;
        }
        if (inToken) Emit(token, tokens);
        return tokens;
    }

    private enum Kind { Separator, TokenChar, Diacritic }

    private static readonly string[] s_ascii = Enumerable.Range(0, 128).Select(i => ((char)i).ToString()).ToArray();

    private static void Emit(StringBuilder token, List<string> tokens)
    {
        if (token.Length > 0) tokens.Add(PorterStemmer.Stem(token.ToString()));
        token.Clear();
    }

    private static (Kind Kind, string Folded) Classify(Rune r)
    {
        if (r.IsAscii)
            return char.IsAsciiLetterOrDigit((char)r.Value) ? (Kind.TokenChar, s_ascii[char.ToLowerInvariant((char)r.Value)]) : (Kind.Separator, "");
        if (s_fold.TryGetValue(r.Value, out var special))
            return special switch
            {
                null => (Kind.Separator, ""),
                "" => (Kind.Diacritic, ""),
                _ => (Kind.TokenChar, special),
            };
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                or UnicodeCategory.PrivateUse => (Kind.TokenChar, Rune.ToLowerInvariant(r).ToString()),
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark => (Kind.Diacritic, ""),
            _ => (Kind.Separator, ""),
        };
    }
}
