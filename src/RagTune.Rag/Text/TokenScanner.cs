namespace RagTune.Rag.Text;

/// <summary>A token found by <see cref="TokenScanner"/>: its span in the scanned string and its estimated model-token count.</summary>
internal readonly record struct TokenSpan(int Start, int End, int Weight);

/// <summary>
/// Approximate model-token counting without a tokenizer (the RAG layer never sees the engine's vocabulary).
/// The scanner walks characters once, no regular expressions: a run of letters/digits (with inner apostrophes
/// or hyphens) is one word; every other non-space character is its own token; CJK ideographs and kana count one
/// token each. A word of n characters is estimated as <c>1 + (n - 1) / 6</c> tokens, because subword tokenizers
/// split long and rare words: on English prose this lands within about ±15% of BPE/SentencePiece counts
/// (≈1.3 tokens per word). Chunk sizes are therefore approximate, which is all sizing needs.
/// </summary>
internal static class TokenScanner
{
    /// <summary>Estimated tokens in <paramref name="text"/>.</summary>
    public static int Count(ReadOnlySpan<char> text)
    {
        var total = 0;
        var i = 0;
        while (Next(text, ref i, out _, out _, out var w)) total += w;
        return total;
    }

    /// <summary>Adds the tokens of <c>text[start..end]</c> to <paramref name="tokens"/> with offsets into <paramref name="text"/>.</summary>
    public static void Scan(string text, int start, int end, List<TokenSpan> tokens)
    {
        var span = text.AsSpan(start, end - start);
        var i = 0;
        while (Next(span, ref i, out var s, out var e, out var w)) tokens.Add(new TokenSpan(start + s, start + e, w));
    }

    /// <summary>All tokens of <paramref name="text"/>.</summary>
    public static List<TokenSpan> Scan(string text)
    {
        var list = new List<TokenSpan>();
        Scan(text, 0, text.Length, list);
        return list;
    }

    private static bool Next(ReadOnlySpan<char> text, ref int i, out int start, out int end, out int weight)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
        start = i;
        if (i >= text.Length)
        {
            end = i;
            weight = 0;
            return false;
        }
        if (IsWordChar(text[i]) && !IsCjk(text[i]))
        {
            i++;
            while (i < text.Length)
            {
                if (IsWordChar(text[i]) && !IsCjk(text[i])) { i++; continue; }
                // "don't", "state-of-the-art": a joiner between two word characters stays inside the word.
                if (text[i] is '\'' or '’' or '-' && i + 1 < text.Length && IsWordChar(text[i + 1]) && !IsCjk(text[i + 1])) { i += 2; continue; }
                break;
            }
            end = i;
            weight = 1 + (end - start - 1) / 6;
            return true;
        }
        // Surrogate pairs (emoji, rare scripts) stay together as one token.
        i += char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
        end = i;
        weight = 1;
        return true;
    }

    /// <summary>True for letters, digits and combining marks.</summary>
    public static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark;

    private static bool IsCjk(char c) => c is (>= '\u3040' and <= '\u30FF') or (>= '\u3400' and <= '\u4DBF') or (>= '\u4E00' and <= '\u9FFF') or (>= '\uF900' and <= '\uFAFF');
}
