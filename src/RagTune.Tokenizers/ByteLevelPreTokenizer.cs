using System.Globalization;

namespace RagTune.Tokenizers;

/// <summary>
/// The split regexes of byte-level BPE models (see <see cref="ByteLevelPreTokenizerKind"/>), written out as
/// hand-made matchers over Unicode scalars, the way llama.cpp's <c>unicode_regex_split_custom_gpt2/llama3</c> do.
/// A .NET <c>Regex</c> sees UTF-16 code units, so <c>\p{L}</c> would not match a letter outside the BMP; here
/// every class test is on a whole scalar. Each matcher follows the regex's alternation order and backtracking:
/// the first alternative that matches at a position wins, quantifiers are greedy.
/// </summary>
internal static class ByteLevelPreTokenizer
{
    /// <summary>The classes the regexes test: <c>\p{L}</c>, <c>\p{N}</c>, <c>\s</c>, everything else.</summary>
    private enum CharClass : byte { Letter, Number, Space, Other, End }

    /// <summary>Calls <paramref name="onPiece"/> with (start, length) in chars for each piece of <paramref name="text"/>, in order.</summary>
    public static void Split<TState>(ByteLevelPreTokenizerKind kind, ReadOnlySpan<char> text, ref TState state, PieceHandler<TState> onPiece)
        where TState : allows ref struct
    {
        switch (kind)
        {
            case ByteLevelPreTokenizerKind.Gpt2:
                SplitGpt2(text, 0, text.Length, ref state, onPiece);
                break;
            case ByteLevelPreTokenizerKind.Llama3:
                SplitLlama3(text, maxDigits: 3, ref state, onPiece);
                break;
            case ByteLevelPreTokenizerKind.Qwen2:
                SplitLlama3(text, maxDigits: 1, ref state, onPiece);
                break;
            case ByteLevelPreTokenizerKind.DigitsThenGpt2:
                // Digits(individual_digits = true) isolates each \p{N} scalar (Rust's char::is_numeric: Nd, Nl, No);
                // ByteLevel's GPT-2 regex then runs on every remaining segment on its own.
                var segment = 0;
                for (var i = 0; i < text.Length;)
                {
                    var cls = Classify(text, i, text.Length, out var len);
                    if (cls == CharClass.Number)
                    {
                        if (segment < i)
                            SplitGpt2(text, segment, i, ref state, onPiece);
                        onPiece(ref state, i, len);
                        segment = i + len;
                    }
                    i += len;
                }
                if (segment < text.Length)
                    SplitGpt2(text, segment, text.Length, ref state, onPiece);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown pre-tokenizer.");
        }
    }

    /// <summary>Receives one piece of the split text.</summary>
    public delegate void PieceHandler<TState>(ref TState state, int start, int length) where TState : allows ref struct;

    /// <summary><c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> on <c>[from, end)</c>.</summary>
    private static void SplitGpt2<TState>(ReadOnlySpan<char> text, int from, int end, ref TState state, PieceHandler<TState> onPiece)
        where TState : allows ref struct
    {
        for (var i = from; i < end;)
        {
            var length = MatchGpt2(text, i, end);
            onPiece(ref state, i, length);
            i += length;
        }
    }

    private static int MatchGpt2(ReadOnlySpan<char> text, int i, int end)
    {
        if (text[i] == '\'' && Contraction(text, i, end, ignoreCase: false) is > 0 and var contraction)
            return contraction;
        var cls = Classify(text, i, end, out var len);
        if (text[i] == ' ' && i + 1 < end)
        {
            // " ?X+" with the optional space taken.
            var next = Classify(text, i + 1, end, out _);
            if (next is CharClass.Letter or CharClass.Number or CharClass.Other)
                return 1 + Run(text, i + 1, end, next) - (i + 1);
        }
        if (cls is CharClass.Letter or CharClass.Number or CharClass.Other)
            return Run(text, i, end, cls) - i;
        return Whitespace(text, i, end);
    }

    /// <summary>The Llama 3 regex, or Qwen2's with <paramref name="maxDigits"/> = 1.</summary>
    private static void SplitLlama3<TState>(ReadOnlySpan<char> text, int maxDigits, ref TState state, PieceHandler<TState> onPiece)
        where TState : allows ref struct
    {
        var end = text.Length;
        for (var i = 0; i < end;)
        {
            var length = MatchLlama3(text, i, end, maxDigits);
            onPiece(ref state, i, length);
            i += length;
        }
    }

    private static int MatchLlama3(ReadOnlySpan<char> text, int i, int end, int maxDigits)
    {
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (text[i] == '\'' && Contraction(text, i, end, ignoreCase: true) is > 0 and var contraction)
            return contraction;
        var cls = Classify(text, i, end, out var len);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (cls == CharClass.Letter)
            return Run(text, i, end, CharClass.Letter) - i;
        if (cls is CharClass.Space or CharClass.Other && text[i] is not ('\r' or '\n') && i + len < end
            && Classify(text, i + len, end, out _) == CharClass.Letter)
            return Run(text, i + len, end, CharClass.Letter) - i;
        // \p{N}{1,3}
        if (cls == CharClass.Number)
        {
            var j = i;
            for (var count = 0; count < maxDigits && j < end && Classify(text, j, end, out var l) == CharClass.Number; count++)
                j += l;
            return j - i;
        }
        // " ?[^\s\p{L}\p{N}]+[\r\n]*"
        var otherStart = cls == CharClass.Other ? i
            : text[i] == ' ' && i + 1 < end && Classify(text, i + 1, end, out _) == CharClass.Other ? i + 1
            : -1;
        if (otherStart >= 0)
        {
            var j = Run(text, otherStart, end, CharClass.Other);
            while (j < end && text[j] is '\r' or '\n')
                j++;
            return j - i;
        }
        // \s*[\r\n]+ : backtracking leaves the match ending just after the last \r or \n of the whitespace run.
        var runEnd = Run(text, i, end, CharClass.Space);
        for (var k = runEnd - 1; k >= i; k--)
        {
            if (text[k] is '\r' or '\n')
                return k + 1 - i;
        }
        return WhitespaceTail(i, runEnd, end);
    }

    /// <summary><c>\s+(?!\S)|\s+</c> at a whitespace scalar.</summary>
    private static int Whitespace(ReadOnlySpan<char> text, int i, int end) => WhitespaceTail(i, Run(text, i, end, CharClass.Space), end);

    /// <summary>
    /// <c>\s+(?!\S)</c> backs off one scalar when the run is followed by a non-space, so the last space can join
    /// the next word; a run of one then falls to <c>\s+</c>. Whitespace scalars are all in the BMP: one char each.
    /// </summary>
    private static int WhitespaceTail(int i, int runEnd, int end) =>
        runEnd == end || runEnd - i == 1 ? runEnd - i : runEnd - i - 1;

    /// <summary>Length of <c>'s|'t|'re|'ve|'m|'ll|'d</c> at <paramref name="i"/>, or 0.</summary>
    private static int Contraction(ReadOnlySpan<char> text, int i, int end, bool ignoreCase)
    {
        if (i + 1 >= end)
            return 0;
        var a = Fold(text[i + 1], ignoreCase);
        if (a is 's' or 't' or 'm' or 'd')
            return 2;
        if (i + 2 >= end)
            return 0;
        var b = Fold(text[i + 2], ignoreCase);
        return (a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? 3 : 0;
    }

    private static char Fold(char c, bool ignoreCase) => ignoreCase && c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;

    /// <summary>End of the run of scalars of class <paramref name="cls"/> starting at <paramref name="i"/>.</summary>
    private static int Run(ReadOnlySpan<char> text, int i, int end, CharClass cls)
    {
        while (i < end && Classify(text, i, end, out var len) == cls)
            i += len;
        return i;
    }

    /// <summary>The class of the scalar at <paramref name="i"/>; <paramref name="length"/> is 2 for a surrogate pair.</summary>
    private static CharClass Classify(ReadOnlySpan<char> text, int i, int end, out int length)
    {
        var c = text[i];
        length = 1;
        if (c < 0x80)
        {
            length = 1;
            return s_ascii[c];
        }
        UnicodeCategory category;
        if (char.IsHighSurrogate(c) && i + 1 < end && char.IsLowSurrogate(text[i + 1]))
        {
            length = 2;
            category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, text[i + 1]));
        }
        else
        {
            // char.IsWhiteSpace is exactly Unicode White_Space (Zs, Zl, Zp, U+0009..U+000D, U+0085), the \s of Oniguruma and Rust.
            if (char.IsWhiteSpace(c))
                return CharClass.Space;
            category = CharUnicodeInfo.GetUnicodeCategory(c);
        }
        return category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharClass.Number,
            _ => CharClass.Other,
        };
    }

    private static readonly CharClass[] s_ascii = BuildAsciiTable();

    private static CharClass[] BuildAsciiTable()
    {
        var table = new CharClass[128];
        for (var c = 0; c < 128; c++)
        {
            table[c] = char.IsAsciiLetter((char)c) ? CharClass.Letter
                : char.IsAsciiDigit((char)c) ? CharClass.Number
                : char.IsWhiteSpace((char)c) ? CharClass.Space
                : CharClass.Other;
        }
        return table;
    }
}
