using System.Globalization;
using System.Text;

namespace RagTune.Tokenizers;

/// <summary>
/// BERT's tokenizer: a basic tokenizer (clean text, isolate CJK ideographs, split on whitespace, lowercase and strip
/// accents for uncased models, split off punctuation) followed by greedy longest-match-first WordPiece with
/// <c>##</c> continuations (Devlin et al. 2018; Wu et al. 2016 §4.1). A word longer than
/// <see cref="WordPieceOptions.MaxInputCharsPerWord"/> code points, or one that cannot be covered by vocabulary
/// pieces, becomes <c>[UNK]</c> as a whole. Immutable and thread-safe.
/// </summary>
/// <remarks>
/// Divergences from Hugging Face, on purpose: special-token strings typed in the text (<c>[SEP]</c>) are tokenized
/// as text, never matched as control tokens, so document text cannot inject separators; HF's slow tokenizer's extra
/// NFC pass (transformers ≥ 4.27) is not applied, matching the Rust <c>BertNormalizer</c>; decoding joins pieces
/// with spaces and glues <c>##</c> pieces without HF's punctuation clean-up.
/// </remarks>
public sealed partial class WordPieceTokenizer : ITokenizer
{
    private static readonly Dictionary<char, string> s_accentFolds = BuildAccentFolds();

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly WordPieceOptions _options;
    private readonly TokenDecodeTable _decodeTable;
    private readonly bool[] _control;

    /// <summary>Creates a tokenizer over <paramref name="tokens"/> (index = id), as read from <c>vocab.txt</c>.</summary>
    /// <exception cref="TokenizerFormatException">A required special token is missing, or a token repeats.</exception>
    internal WordPieceTokenizer(IReadOnlyList<string> tokens, WordPieceOptions? options = null, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        _options = options ?? new WordPieceOptions();
        _options.Validate();
        var source = sourceName ?? "WordPiece vocabulary";
        if (tokens.Count == 0)
            throw new TokenizerFormatException(source, null, "the vocabulary is empty; a BERT vocab.txt has one token per line ([PAD], [UNK], [CLS], [SEP], …).");

        _tokens = [.. tokens];
        _vocab = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < _tokens.Length; i++)
        {
            // Google's vocab files repeat no token, but some community files do; the first id wins, as in HF's load_vocab order.
            _vocab.TryAdd(_tokens[i], i);
        }
        _lookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();

        UnknownId = RequireToken(_options.UnknownToken, source);
        ClsId = RequireToken(_options.ClsToken, source);
        SepId = RequireToken(_options.SepToken, source);
        PadId = _vocab.GetValueOrDefault(_options.PadToken, -1);
        MaskId = _vocab.GetValueOrDefault(_options.MaskToken, -1);

        _control = new bool[_tokens.Length];
        foreach (var id in new[] { ClsId, SepId, PadId, MaskId })
            if (id >= 0) _control[id] = true;

        var bytes = new byte[_tokens.Length][];
        var kinds = new PieceDisplay[_tokens.Length];
        var prefix = _options.ContinuingSubwordPrefix;
        for (int i = 0; i < _tokens.Length; i++)
        {
            var t = _tokens[i];
            kinds[i] = _control[i] ? PieceDisplay.Silent : PieceDisplay.Text;
            bytes[i] = Encoding.UTF8.GetBytes(prefix.Length > 0 && t.Length > prefix.Length && t.StartsWith(prefix, StringComparison.Ordinal)
                ? t[prefix.Length..]
                : " " + t);
        }
        _decodeTable = new TokenDecodeTable(bytes, kinds, ClsId, stripLeadingSpace: true);
    }

    /// <summary>The options this tokenizer was built with.</summary>
    internal WordPieceOptions Options => _options;

    /// <inheritdoc />
    public TokenizerKind Kind => TokenizerKind.WordPiece;

    /// <inheritdoc />
    public int VocabSize => _tokens.Length;

    /// <summary><c>[CLS]</c>; BERT's sequence start, so this is also <see cref="BosId"/>.</summary>
    public int ClsId { get; }

    /// <summary><c>[SEP]</c>; BERT's sequence end, so this is also <see cref="EosId"/>.</summary>
    public int SepId { get; }

    /// <summary><c>[PAD]</c>, or -1 when the vocabulary has none.</summary>
    public int PadId { get; }

    /// <summary><c>[MASK]</c>, or -1 when the vocabulary has none.</summary>
    public int MaskId { get; }

    /// <inheritdoc />
    public int BosId => ClsId;

    /// <inheritdoc />
    public int EosId => SepId;

    /// <inheritdoc />
    public int UnknownId { get; }

    /// <summary>The id of <paramref name="token"/>, or -1 when it is not in the vocabulary.</summary>
    public int TokenToId(string token) => _vocab.GetValueOrDefault(token, -1);

    /// <summary>Encodes <paramref name="text"/>; with <paramref name="addBos"/> the ids are wrapped as <c>[CLS] … [SEP]</c>.</summary>
    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        var ids = new List<int>();
        Encode(text, addBos, ids);
        return ids;
    }

    /// <inheritdoc cref="Encode(string, bool)" />
    public void Encode(string text, bool addBos, List<int> output)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        if (addBos) output.Add(ClsId);
        EncodeWords(text, output);
        if (addBos) output.Add(SepId);
    }

    /// <summary>The WordPiece strings of <paramref name="text"/> (no special tokens), for display and tests.</summary>
    public IReadOnlyList<string> Tokenize(string text) => Encode(text, addBos: false).Select(id => _tokens[id]).ToArray();

    /// <summary>
    /// <c>[CLS] text [SEP]</c> with all type ids 0, cut to at most <paramref name="maxLength"/> ids (≥ 2) by dropping
    /// pieces from the end of the text.
    /// </summary>
    public WordPieceEncoding EncodeForModel(string text, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var pieces = new List<int>();
        Encode(text, addBos: false, pieces);
        bool truncated = pieces.Count > maxLength - 2;
        int n = Math.Min(pieces.Count, maxLength - 2);
        var ids = new int[n + 2];
        ids[0] = ClsId;
        pieces.CopyTo(0, ids, 1, n);
        ids[^1] = SepId;
        return new WordPieceEncoding(ids, new int[ids.Length], truncated);
    }

    /// <summary>
    /// <c>[CLS] a [SEP] b [SEP]</c> with type ids 0 up to the first <c>[SEP]</c> and 1 after it, cut to at most
    /// <paramref name="maxLength"/> ids (≥ 3) longest-first: one piece at a time from the end of the longer text,
    /// from <paramref name="b"/> on ties (HF's <c>longest_first</c>).
    /// </summary>
    public WordPieceEncoding EncodePair(string a, string b, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 3);
        var pa = new List<int>();
        var pb = new List<int>();
        Encode(a, addBos: false, pa);
        Encode(b, addBos: false, pb);
        int la = pa.Count, lb = pb.Count;
        bool truncated = false;
        while (la + lb > maxLength - 3)
        {
            truncated = true;
            if (la > lb) la--; else lb--;
        }
        var ids = new int[la + lb + 3];
        var types = new int[ids.Length];
        ids[0] = ClsId;
        pa.CopyTo(0, ids, 1, la);
        ids[la + 1] = SepId;
        pb.CopyTo(0, ids, la + 2, lb);
        ids[^1] = SepId;
        types.AsSpan(la + 2).Fill(1);
        return new WordPieceEncoding(ids, types, truncated);
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> ids) => _decodeTable.Decode(ids);

    /// <inheritdoc />
    public string TokenText(int id) => _tokens[CheckId(id)];

    /// <inheritdoc />
    public bool IsControl(int id) => _control[CheckId(id)];

    /// <inheritdoc />
    public StreamingDecoder CreateStreamingDecoder(bool atSequenceStart = true) => new(_decodeTable, atSequenceStart);

    // ---------------------------------------------------------------- basic tokenizer

    private void EncodeWords(string text, List<int> output)
    {
        var word = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            int cp = rune.Value;
            if (_options.CleanText && (cp == 0 || cp == 0xFFFD || IsControl(rune)))
                continue;
            if (IsWhitespace(rune))
            {
                FlushWord(word, output);
                continue;
            }
            if (_options.HandleChineseChars && IsCjkIdeograph(cp))
            {
                FlushWord(word, output);
                AppendRune(word, rune);
                FlushWord(word, output);
                continue;
            }
            AppendRune(word, rune);
        }
        FlushWord(word, output);
    }

    private static void AppendRune(StringBuilder sb, Rune rune)
    {
        Span<char> chars = stackalloc char[2];
        sb.Append(chars[..rune.EncodeToUtf16(chars)]);
    }

    // One whitespace-delimited word: lowercase, fold accents, split punctuation off, WordPiece each part.
    private void FlushWord(StringBuilder word, List<int> output)
    {
        if (word.Length == 0) return;
        var w = word.ToString();
        word.Clear();
        if (_options.Lowercase) w = Lowercase(w);
        if (_options.EffectiveStripAccents) w = StripAccents(w);

        int start = 0, i = 0;
        while (i < w.Length)
        {
            var rune = Rune.GetRuneAt(w, i);
            if (IsPunctuation(rune))
            {
                if (i > start) WordPiece(w.AsSpan(start, i - start), output);
                WordPiece(w.AsSpan(i, rune.Utf16SequenceLength), output);
                start = i + rune.Utf16SequenceLength;
            }
            i += rune.Utf16SequenceLength;
        }
        if (start < w.Length) WordPiece(w.AsSpan(start), output);
    }

    // Greedy longest-match-first (BERT's WordpieceTokenizer). Substrings are tried char by char; one ending inside a
    // surrogate pair matches nothing, so the result equals a code-point-wise search.
    private void WordPiece(ReadOnlySpan<char> word, List<int> output)
    {
        if (CountCodePoints(word) > _options.MaxInputCharsPerWord)
        {
            output.Add(UnknownId);
            return;
        }
        var prefix = _options.ContinuingSubwordPrefix;
        Span<char> buffer = word.Length + prefix.Length <= 256 ? stackalloc char[256] : new char[word.Length + prefix.Length];
        prefix.CopyTo(buffer);
        int mark = output.Count;
        int start = 0;
        while (start < word.Length)
        {
            int end = word.Length, found = -1;
            while (start < end)
            {
                var sub = word[start..end];
                scoped ReadOnlySpan<char> key = sub;
                if (start > 0)
                {
                    sub.CopyTo(buffer[prefix.Length..]);
                    key = buffer[..(prefix.Length + sub.Length)];
                }
                if (_lookup.TryGetValue(key, out found)) break;
                found = -1;
                end--;
            }
            if (found < 0)
            {
                output.RemoveRange(mark, output.Count - mark);
                output.Add(UnknownId);
                return;
            }
            output.Add(found);
            start = end;
        }
    }

    // Unicode full lowercase mapping as Python's str.lower applies it: simple mappings (ToLowerInvariant) plus the two
    // SpecialCasing rules that matter for BERT vocabularies: İ (U+0130) → i + U+0307 (then accent stripping gives "i"),
    // which .NET's invariant casing leaves unmapped, and Final_Sigma (Σ at the end of a word → ς).
    private static string Lowercase(string w)
    {
        var lower = w.ToLowerInvariant();
        if (!w.Contains('\u0130') && !w.Contains('\u03A3')) return lower;
        var sb = new StringBuilder(lower.Length + 2);
        for (int i = 0; i < w.Length; i++)
        {
            char c = w[i];
            if (c == '\u0130')
                sb.Append("i\u0307");
            else if (c == '\u03A3')
                sb.Append(IsFinalSigma(w, i) ? '\u03C2' : '\u03C3');
            else
                sb.Append(lower[i]);
        }
        return sb.ToString();
    }

    // Unicode Final_Sigma, simplified to letters: a cased letter before (skipping marks), none after.
    private static bool IsFinalSigma(string w, int i)
    {
        int j = i - 1;
        while (j >= 0 && CharUnicodeInfo.GetUnicodeCategory(w[j]) == UnicodeCategory.NonSpacingMark) j--;
        if (j < 0 || !char.IsLetter(w[j])) return false;
        int k = i + 1;
        while (k < w.Length && CharUnicodeInfo.GetUnicodeCategory(w[k]) == UnicodeCategory.NonSpacingMark) k++;
        return k >= w.Length || !char.IsLetter(w[k]);
    }

    private static string StripAccents(string w)
    {
        var sb = new StringBuilder(w.Length);
        bool changed = false;
        for (int i = 0; i < w.Length;)
        {
            char c = w[i];
            if (c < 0x80)
            {
                sb.Append(c);
                i++;
                continue;
            }
            if (c is >= (char)0xAC00 and <= (char)0xD7A3)
            {
                AppendHangulDecomposition(sb, c);
                changed = true;
                i++;
                continue;
            }
            if (s_accentFolds.TryGetValue(c, out var fold))
            {
                sb.Append(fold);
                changed = true;
                i++;
                continue;
            }
            Rune.DecodeFromUtf16(w.AsSpan(i), out var rune, out int consumed);
            if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.NonSpacingMark)
                changed = true;
            else
                sb.Append(w, i, consumed);
            i += consumed;
        }
        return changed ? sb.ToString() : w;
    }

    // Unicode §3.12 canonical decomposition of a precomposed Hangul syllable into conjoining jamo.
    private static void AppendHangulDecomposition(StringBuilder sb, char s)
    {
        const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, TCount = 28, NCount = 588;
        int index = s - SBase;
        char l = (char)(LBase + index / NCount), v = (char)(VBase + index % NCount / TCount);
        int t = index % TCount;
        sb.Append(l).Append(v);
        if (t != 0) sb.Append((char)(TBase + t));
    }

    private static Dictionary<char, string> BuildAccentFolds()
    {
        var map = new Dictionary<char, string>(1500);
        var table = AccentFoldTable;
        for (int i = 0; i < table.Length;)
        {
            char c = table[i];
            int n = table[i + 1];
            map[c] = table.Substring(i + 2, n);
            i += 2 + n;
        }
        return map;
    }

    // ---------------------------------------------------------------- character classes (BERT's definitions)

    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator || Rune.IsWhiteSpace(r);

    // Categories C* (Cc, Cf, Cs, Co, Cn) except tab, newline and carriage return, which BERT treats as whitespace.
    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    // All non-alphanumeric ASCII counts as punctuation ($, ^, `), as in BERT, plus every Unicode P* category.
    private static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    // The CJK Unified Ideographs blocks BERT isolates (Japanese kana and Hangul are not included, as in BERT).
    private static bool IsCjkIdeograph(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;

    private static int CountCodePoints(ReadOnlySpan<char> s)
    {
        int n = s.Length;
        for (int i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { n--; i++; }
        return n;
    }

    private int RequireToken(string token, string source) =>
        _vocab.TryGetValue(token, out var id)
            ? id
            : throw new TokenizerFormatException(source, null, $"the special token '{token}' is not in the vocabulary; pass WordPieceOptions naming the tokens this vocabulary uses.");

    private int CheckId(int id) =>
        (uint)id < (uint)_tokens.Length ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary [0, {_tokens.Length}).");
}
