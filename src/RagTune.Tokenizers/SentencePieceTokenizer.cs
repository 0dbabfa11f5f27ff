using System.Buffers;
using System.Globalization;
using System.Text;

namespace RagTune.Tokenizers;

/// <summary>
/// SentencePiece BPE (Llama 2, TinyLlama, llama2.c stories models), encoding exactly as llama.cpp's
/// <c>llm_tokenizer_spm</c>: spaces become ▁, a ▁ is prepended, the text is split into characters, and the
/// adjacent pair whose concatenation is a vocabulary piece with the highest score is merged until none is left
/// (ties go to the leftmost pair). Symbols that are not pieces fall back to <c>&lt;0xNN&gt;</c> byte tokens.
/// Immutable and thread-safe.
/// </summary>
/// <remarks>
/// One deliberate difference from llama.cpp: control, unknown and byte pieces never take part in merges, so
/// literal text such as <c>&lt;s&gt;</c> or <c>&lt;0x0A&gt;</c> cannot turn into a BOS or a byte token (this is
/// what SentencePiece itself does; llama.cpp looks every piece up). No Llama vocabulary test vector depends on it.
/// </remarks>
public sealed partial class SentencePieceTokenizer : ITokenizer
{
    /// <summary>SentencePiece's whitespace marker, U+2581 LOWER ONE EIGHTH BLOCK.</summary>
    internal const char SpaceMarker = '\u2581';

    /// <summary>How SentencePiece shows an unknown token (its default <c>unk_surface</c>).</summary>
    private const string UnknownSurface = " \u2047 ";

    private static readonly BigramOrder s_bigramOrder = new();

    private readonly string[] _tokens;
    private readonly float[] _scores;
    private readonly SentencePieceTokenType[] _types;
    private readonly Dictionary<string, int> _pieceToId; // pieces that text may turn into: normal, user-defined, unused
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _pieceLookup;
    private readonly int[]? _byteToId;                    // byte value → <0xNN> id; null when the vocabulary has no byte tokens
    private readonly (string Text, int Id)[] _userDefined; // matched whole before merging, longest first
    private readonly TokenDecodeTable _decodeTable;

    /// <summary>Builds a tokenizer from <paramref name="vocab"/>, validating it.</summary>
    /// <param name="vocab">The vocabulary arrays and special ids.</param>
    /// <param name="sourceName">Where the vocabulary came from (a file path), used in error messages.</param>
    /// <exception cref="TokenizerFormatException">The vocabulary is inconsistent.</exception>
    public SentencePieceTokenizer(SentencePieceVocab vocab, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        var source = sourceName ?? "SentencePiece vocabulary";
        var tokens = vocab.Tokens ?? throw new TokenizerFormatException(source, null, "the token list is missing (tokenizer.ggml.tokens).");
        var scores = vocab.Scores ?? throw new TokenizerFormatException(source, null, "the score list is missing (tokenizer.ggml.scores).");
        var n = tokens.Length;
        if (n == 0)
            throw new TokenizerFormatException(source, null, "the vocabulary is empty.");
        if (scores.Length != n)
            throw new TokenizerFormatException(source, null, $"{n} tokens but {scores.Length} scores; tokenizer.ggml.tokens and tokenizer.ggml.scores must have one entry per id.");
        if (vocab.TokenTypes is { } given && given.Length != n)
            throw new TokenizerFormatException(source, null, $"{n} tokens but {given.Length} token types; tokenizer.ggml.token_type must have one entry per id.");
        CheckId(source, "BOS", vocab.BosId, n);
        CheckId(source, "EOS", vocab.EosId, n);
        CheckId(source, "unknown", vocab.UnknownId, n);

        _tokens = tokens;
        _scores = scores;
        _types = new SentencePieceTokenType[n];
        BosId = vocab.BosId;
        EosId = vocab.EosId;
        UnknownId = vocab.UnknownId;
        AddSpacePrefix = vocab.AddSpacePrefix;

        for (var id = 0; id < n; id++)
        {
            var piece = tokens[id] ?? throw new TokenizerFormatException(source, null, $"token {id} is null.");
            if (vocab.TokenTypes is { } types)
            {
                var t = types[id];
                if (t is < 0 or > (int)SentencePieceTokenType.Byte)
                    throw new TokenizerFormatException(source, null, $"token {id} ('{piece}') has type {t}; GGUF token types are 0..6.");
                _types[id] = t == 0 ? SentencePieceTokenType.Normal : (SentencePieceTokenType)t;
            }
            else
            {
                _types[id] = InferType(id, piece, vocab);
            }
        }

        _pieceToId = new Dictionary<string, int>(n, StringComparer.Ordinal);
        var userDefined = new List<(string, int)>();
        var byteToId = new int[256];
        byteToId.AsSpan().Fill(-1);
        var byteCount = 0;
        for (var id = 0; id < n; id++)
        {
            var piece = tokens[id];
            switch (_types[id])
            {
                case SentencePieceTokenType.Byte:
                    if (!TryParseBytePiece(piece, out var b))
                        throw new TokenizerFormatException(source, null, $"token {id} ('{piece}') is typed as a byte token but is not of the form <0xNN>.");
                    if (byteToId[b] >= 0)
                        throw new TokenizerFormatException(source, null, $"byte 0x{b:X2} has two tokens, {byteToId[b]} and {id}.");
                    byteToId[b] = id;
                    byteCount++;
                    break;
                case SentencePieceTokenType.Normal or SentencePieceTokenType.UserDefined or SentencePieceTokenType.Unused:
                    if (piece.Length == 0)
                        break;
                    _pieceToId[piece] = id; // a later duplicate wins, as in llama.cpp's token_to_id
                    if (_types[id] == SentencePieceTokenType.UserDefined)
                        userDefined.Add((piece, id));
                    break;
            }
        }

        if (byteCount == 256)
        {
            _byteToId = byteToId;
        }
        else if (byteCount > 0)
        {
            var missing = Array.IndexOf(byteToId, -1);
            throw new TokenizerFormatException(source, null,
                $"byte fallback needs all 256 tokens <0x00>..<0xFF> but only {byteCount} exist (first missing: <0x{missing:X2}>).");
        }
        else if (UnknownId < 0)
        {
            throw new TokenizerFormatException(source, null,
                "the vocabulary has neither byte tokens <0x00>..<0xFF> nor an unknown token, so characters outside it cannot be encoded.");
        }

        _pieceLookup = _pieceToId.GetAlternateLookup<ReadOnlySpan<char>>();
        // llama.cpp matches longer special pieces first (cache_special_tokens is sorted by length, descending).
        _userDefined = [.. userDefined.OrderByDescending(u => u.Item1.Length).ThenBy(u => u.Item2)];
        _decodeTable = BuildDecodeTable();
    }

    /// <inheritdoc />
    public TokenizerKind Kind => TokenizerKind.SentencePieceBpe;

    /// <inheritdoc />
    public int VocabSize => _tokens.Length;

    /// <inheritdoc />
    public int BosId { get; }

    /// <inheritdoc />
    public int EosId { get; }

    /// <inheritdoc />
    public int UnknownId { get; }

    /// <summary>Whether a ▁ is prepended before encoding (and dropped from the first piece when decoding).</summary>
    public bool AddSpacePrefix { get; }

    /// <summary>The merge score of <paramref name="id"/>.</summary>
    public float Score(int id) => _scores[CheckId(id)];

    /// <summary>The type of <paramref name="id"/> (given, or inferred when the vocabulary had none).</summary>
    internal SentencePieceTokenType TokenType(int id) => _types[CheckId(id)];

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 2);
        Encode(text, addBos, output);
        return output;
    }

    /// <inheritdoc />
    /// <remarks>
    /// As llama.cpp's <c>tokenize(text, add_special, parse_special: false)</c>: user-defined pieces are cut out
    /// first; each remaining text fragment that starts the input or follows a user-defined piece gets the ▁ prefix.
    /// Empty text yields no ids (only BOS when asked).
    /// </remarks>
    public void Encode(string text, bool addBos, List<int> output)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        if (addBos && BosId >= 0)
            output.Add(BosId);
        if (text.Length == 0)
            return;
        if (_userDefined.Length == 0)
        {
            EncodeFragment(text, AddSpacePrefix, output);
            return;
        }

        var afterSpecial = true;
        foreach (var (start, length, id) in SplitOnUserDefined(text))
        {
            if (id >= 0)
            {
                output.Add(id);
                afterSpecial = true;
            }
            else
            {
                EncodeFragment(text.AsSpan(start, length), AddSpacePrefix && afterSpecial, output);
                afterSpecial = false;
            }
        }
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> ids) => _decodeTable.Decode(ids);

    /// <inheritdoc />
    public string TokenText(int id) => _tokens[CheckId(id)];

    /// <inheritdoc />
    public bool IsControl(int id) => _types[CheckId(id)] == SentencePieceTokenType.Control;

    /// <inheritdoc />
    public StreamingDecoder CreateStreamingDecoder(bool atSequenceStart = true) => new(_decodeTable, atSequenceStart);

    // ── encoding ────────────────────────────────────────────────────────────────────────────────────────────

    private struct Symbol
    {
        public int Prev;   // index of the previous live symbol, -1 at the start
        public int Next;   // index of the next live symbol, -1 at the end
        public int Start;  // first char in the normalized text
        public int Length; // chars; 0 once merged into its left neighbour
    }

    private void EncodeFragment(ReadOnlySpan<char> raw, bool addPrefix, List<int> output)
    {
        var n = raw.Length + (addPrefix ? 1 : 0);
        var chars = ArrayPool<char>.Shared.Rent(n);
        var symbols = ArrayPool<Symbol>.Shared.Rent(n);
        try
        {
            // Normalize as llama_escape_whitespace: only ' ' becomes ▁ (tabs and newlines stay).
            var p = 0;
            if (addPrefix)
                chars[p++] = SpaceMarker;
            foreach (var c in raw)
                chars[p++] = c == ' ' ? SpaceMarker : c;

            // One symbol per Unicode scalar (a surrogate pair stays together).
            var count = 0;
            for (var i = 0; i < n;)
            {
                var len = char.IsHighSurrogate(chars[i]) && i + 1 < n && char.IsLowSurrogate(chars[i + 1]) ? 2 : 1;
                symbols[count] = new Symbol { Prev = count - 1, Next = i + len == n ? -1 : count + 1, Start = i, Length = len };
                count++;
                i += len;
            }

            var queue = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(s_bigramOrder);
            for (var i = 1; i < count; i++)
                TryAddBigram(chars, symbols, i - 1, i, queue);

            while (queue.TryDequeue(out var bigram, out _))
            {
                ref var left = ref symbols[bigram.Left];
                ref var right = ref symbols[bigram.Right];
                // Stale entry: one side was merged away or grew since this pair was queued.
                if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size)
                    continue;
                left.Length += right.Length;
                right.Length = 0;
                left.Next = right.Next;
                if (right.Next >= 0)
                    symbols[right.Next].Prev = bigram.Left;
                TryAddBigram(chars, symbols, left.Prev, bigram.Left, queue);
                TryAddBigram(chars, symbols, bigram.Left, left.Next, queue);
            }

            for (var i = 0; i != -1; i = symbols[i].Next)
            {
                var text = chars.AsSpan(symbols[i].Start, symbols[i].Length);
                if (_pieceLookup.TryGetValue(text, out var id))
                    output.Add(id);
                else
                    AddByteFallback(text, output);
            }
        }
        finally
        {
            ArrayPool<Symbol>.Shared.Return(symbols);
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    private void TryAddBigram(char[] chars, Symbol[] symbols, int left, int right, PriorityQueue<(int, int, int), (float, int)> queue)
    {
        if (left < 0 || right < 0)
            return;
        var size = symbols[left].Length + symbols[right].Length;
        if (_pieceLookup.TryGetValue(chars.AsSpan(symbols[left].Start, size), out var id))
            queue.Enqueue((left, right, size), (_scores[id], left));
    }

    private void AddByteFallback(ReadOnlySpan<char> symbol, List<int> output)
    {
        if (_byteToId is null)
        {
            output.Add(UnknownId);
            return;
        }
        // A symbol that is not a piece is a single scalar (merges only form pieces): at most 4 UTF-8 bytes.
        Span<byte> small = stackalloc byte[16];
        var bytes = symbol.Length <= 4 ? small : new byte[Encoding.UTF8.GetMaxByteCount(symbol.Length)];
        var written = Encoding.UTF8.GetBytes(symbol, bytes); // a lone surrogate becomes EF BF BD (U+FFFD)
        foreach (var b in bytes[..written])
            output.Add(_byteToId[b]);
    }

    private List<(int Start, int Length, int Id)> SplitOnUserDefined(string text)
    {
        // Same order of work as llama.cpp's tokenizer_st_partition: each user-defined piece, longest first,
        // splits every text fragment left to right at its non-overlapping occurrences.
        var fragments = new List<(int Start, int Length, int Id)> { (0, text.Length, -1) };
        var next = new List<(int Start, int Length, int Id)>();
        foreach (var (piece, pieceId) in _userDefined)
        {
            next.Clear();
            foreach (var fragment in fragments)
            {
                if (fragment.Id >= 0)
                {
                    next.Add(fragment);
                    continue;
                }
                var start = fragment.Start;
                var end = fragment.Start + fragment.Length;
                while (start < end)
                {
                    var at = text.AsSpan(start, end - start).IndexOf(piece, StringComparison.Ordinal);
                    if (at < 0)
                        break;
                    if (at > 0)
                        next.Add((start, at, -1));
                    next.Add((start + at, piece.Length, pieceId));
                    start += at + piece.Length;
                }
                if (start < end)
                    next.Add((start, end - start, -1));
            }
            (fragments, next) = (next, fragments);
        }
        return fragments;
    }

    /// <summary>Highest score first; among equal scores the leftmost pair (llama.cpp's llm_bigram_spm::comparator).</summary>
    private sealed class BigramOrder : IComparer<(float Score, int Left)>
    {
        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            var byScore = y.Score.CompareTo(x.Score);
            return byScore != 0 ? byScore : x.Left.CompareTo(y.Left);
        }
    }

    // ── vocabulary ──────────────────────────────────────────────────────────────────────────────────────────

    private TokenDecodeTable BuildDecodeTable()
    {
        var n = _tokens.Length;
        var bytes = new byte[n][];
        var kinds = new PieceDisplay[n];
        for (var id = 0; id < n; id++)
        {
            switch (_types[id])
            {
                case SentencePieceTokenType.Control or SentencePieceTokenType.Unused:
                    bytes[id] = [];
                    kinds[id] = PieceDisplay.Silent;
                    break;
                case SentencePieceTokenType.Byte:
                    TryParseBytePiece(_tokens[id], out var b);
                    bytes[id] = [b];
                    kinds[id] = PieceDisplay.RawByte;
                    break;
                case SentencePieceTokenType.Unknown:
                    bytes[id] = Encoding.UTF8.GetBytes(UnknownSurface);
                    kinds[id] = PieceDisplay.Text;
                    break;
                case SentencePieceTokenType.UserDefined:
                    bytes[id] = Encoding.UTF8.GetBytes(_tokens[id]); // shown as written, as llama.cpp does
                    kinds[id] = PieceDisplay.Text;
                    break;
                default:
                    bytes[id] = Encoding.UTF8.GetBytes(_tokens[id].Replace(SpaceMarker, ' '));
                    kinds[id] = PieceDisplay.Text;
                    break;
            }
        }
        return new TokenDecodeTable(bytes, kinds, BosId, AddSpacePrefix);
    }

    private static SentencePieceTokenType InferType(int id, string piece, SentencePieceVocab vocab)
    {
        if (id == vocab.BosId || id == vocab.EosId || piece is "<s>" or "</s>")
            return SentencePieceTokenType.Control;
        if (id == vocab.UnknownId || piece == "<unk>")
            return SentencePieceTokenType.Unknown;
        return TryParseBytePiece(piece, out _) ? SentencePieceTokenType.Byte : SentencePieceTokenType.Normal;
    }

    /// <summary>Parses SentencePiece's byte-fallback piece <c>&lt;0xNN&gt;</c> (llama.cpp writes it with <c>"&lt;0x%02X&gt;"</c>).</summary>
    internal static bool TryParseBytePiece(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static void CheckId(string source, string what, int id, int n)
    {
        if (id < -1 || id >= n)
            throw new TokenizerFormatException(source, null, $"the {what} id {id} is outside the vocabulary [0, {n}) (use -1 for none).");
    }

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)_tokens.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary [0, {_tokens.Length}).");
        return id;
    }
}
