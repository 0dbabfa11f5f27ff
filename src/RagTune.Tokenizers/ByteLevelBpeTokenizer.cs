using System.Collections.Concurrent;
using System.Text;

namespace RagTune.Tokenizers;

/// <summary>
/// GPT-2 style byte-level BPE (GPT-2, SmolLM2, Qwen2, Llama 3), encoding as Hugging Face tokenizers and
/// llama.cpp's <c>llm_tokenizer_bpe</c> do: added (special) tokens are cut out of the text first, longest first at
/// the leftmost position; each remaining fragment is split into words by the model's regex
/// (<see cref="ByteLevelPreTokenizer"/>); each word's UTF-8 bytes become symbols in GPT-2's byte-to-unicode
/// alphabet; adjacent symbols are merged by lowest merge rank (ties to the leftmost pair) until no rule applies.
/// Immutable and thread-safe; merged words are cached.
/// </summary>
public sealed partial class ByteLevelBpeTokenizer : ITokenizer
{
    private const int MaxCachedWordChars = 64;
    private const int MaxCacheEntries = 100_000;

    private readonly string[] _tokens;
    private readonly SentencePieceTokenType[] _types;
    private readonly int[] _byteToId = new int[256];
    private readonly Dictionary<long, (int Rank, int Merged)> _merges; // (left id << 32 | right id) → rank, merged id
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    private readonly Dictionary<char, (string Text, int Id)[]> _addedByFirstChar; // candidates longest first
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private readonly TokenDecodeTable _decodeTable;

    /// <summary>The vocabulary this tokenizer was built from (for writing it into a GGUF).</summary>
    public ByteLevelBpeVocab Vocab { get; }

    /// <summary>Builds a tokenizer from <paramref name="vocab"/>, validating it.</summary>
    /// <param name="vocab">Tokens, merges, types and special ids.</param>
    /// <param name="sourceName">Where the vocabulary came from (a file path), used in error messages.</param>
    /// <exception cref="TokenizerFormatException">
    /// The vocabulary is inconsistent: a byte has no token, a merge names a token that does not exist or produces
    /// one that does not exist, an id is out of range.
    /// </exception>
    public ByteLevelBpeTokenizer(ByteLevelBpeVocab vocab, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        var source = sourceName ?? "byte-level BPE vocabulary";
        var tokens = vocab.Tokens ?? throw new TokenizerFormatException(source, null, "the token list is missing (tokenizer.ggml.tokens / model.vocab).");
        var n = tokens.Length;
        if (n == 0)
            throw new TokenizerFormatException(source, null, "the vocabulary is empty.");
        if (vocab.TokenTypes is { } given && given.Length != n)
            throw new TokenizerFormatException(source, null, $"{n} tokens but {given.Length} token types; tokenizer.ggml.token_type must have one entry per id.");
        CheckSpecialId(source, "BOS", vocab.BosId, n);
        CheckSpecialId(source, "EOS", vocab.EosId, n);
        CheckSpecialId(source, "unknown", vocab.UnknownId, n);

        Vocab = vocab;
        _tokens = tokens;
        _types = new SentencePieceTokenType[n];
        BosId = vocab.BosId;
        EosId = vocab.EosId;
        UnknownId = vocab.UnknownId;
        AddBosByDefault = vocab.AddBosByDefault;
        IgnoreMerges = vocab.IgnoreMerges;
        NormalizeNfc = vocab.NormalizeNfc;
        PreTokenizer = vocab.PreTokenizer;

        var vocabMap = new Dictionary<string, int>(n, StringComparer.Ordinal);
        var added = new List<(string Text, int Id)>();
        for (var id = 0; id < n; id++)
        {
            var token = tokens[id] ?? throw new TokenizerFormatException(source, null, $"token {id} is null.");
            var t = vocab.TokenTypes is { } types ? types[id] : 1;
            if (t is < 0 or > (int)SentencePieceTokenType.Byte)
                throw new TokenizerFormatException(source, null, $"token {id} ('{token}') has type {t}; GGUF token types are 0..6.");
            _types[id] = t == 0 ? SentencePieceTokenType.Normal : (SentencePieceTokenType)t;
            if (_types[id] is SentencePieceTokenType.Control or SentencePieceTokenType.UserDefined)
            {
                if (token.Length > 0)
                    added.Add((token, id));
            }
            else if (_types[id] != SentencePieceTokenType.Unused)
            {
                vocabMap.TryAdd(token, id); // the first id wins, as Hugging Face's vocab map built from sorted ids
            }
        }
        _vocabLookup = vocabMap.GetAlternateLookup<ReadOnlySpan<char>>();

        // A byte without a symbol token (SmolLM2 lacks some control bytes) is dropped when it occurs, as Hugging
        // Face's BPE does for a character outside the vocabulary when there is no unk_token (or becomes unk).
        for (var b = 0; b < 256; b++)
            _byteToId[b] = vocabMap.TryGetValue(ByteToUnicode[b].ToString(), out var byteId) ? byteId : -1;

        _merges = new Dictionary<long, (int, int)>(vocab.Merges.Length);
        for (var rank = 0; rank < vocab.Merges.Length; rank++)
        {
            var (left, right) = vocab.Merges[rank];
            if (!vocabMap.TryGetValue(left ?? "", out var leftId) || !vocabMap.TryGetValue(right ?? "", out var rightId))
                throw new TokenizerFormatException(source, null,
                    $"merge rule {rank} ('{left} {right}') names a token that is not in the vocabulary ('{(vocabMap.ContainsKey(left ?? "") ? right : left)}'); merges must only combine existing tokens.");
            if (!vocabMap.TryGetValue(left + right, out var mergedId))
                throw new TokenizerFormatException(source, null,
                    $"merge rule {rank} ('{left} {right}') produces '{left + right}', which is not in the vocabulary.");
            _merges.TryAdd(Key(leftId, rightId), (rank, mergedId)); // a repeated rule keeps its first (best) rank
        }

        // Leftmost-longest matching of added tokens, as Hugging Face's AddedVocabulary (an Aho-Corasick leftmost-longest automaton).
        _addedByFirstChar = added
            .GroupBy(a => a.Text[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(a => a.Text.Length).ThenBy(a => a.Id).ToArray());
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _decodeTable = BuildDecodeTable();
    }

    /// <inheritdoc />
    public TokenizerKind Kind => TokenizerKind.ByteLevelBpe;

    /// <inheritdoc />
    public int VocabSize => _tokens.Length;

    /// <inheritdoc />
    public int BosId { get; }

    /// <inheritdoc />
    public int EosId { get; }

    /// <inheritdoc />
    public int UnknownId { get; }

    /// <summary>Whether prompts should start with <see cref="BosId"/> (Llama 3: yes; GPT-2, SmolLM2, Qwen2: no).</summary>
    public bool AddBosByDefault { get; }

    /// <summary>Whether a word that is itself a token skips merging (Llama 3).</summary>
    public bool IgnoreMerges { get; }

    /// <summary>Whether text is NFC-normalized before encoding (Qwen2).</summary>
    public bool NormalizeNfc { get; }

    /// <summary>The split regex in use.</summary>
    internal ByteLevelPreTokenizerKind PreTokenizer { get; }

    /// <summary>The GGUF type of <paramref name="id"/>: control and user-defined tokens are the added tokens.</summary>
    public SentencePieceTokenType TokenType(int id) => _types[CheckId(id)];

    /// <summary>Finds the id of the exact token text <paramref name="token"/> (added tokens included), or -1.</summary>
    public int TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_vocabLookup.TryGetValue(token, out var id))
            return id;
        if (token.Length > 0 && _addedByFirstChar.TryGetValue(token[0], out var candidates))
        {
            foreach (var (text, addedId) in candidates)
            {
                if (text == token)
                    return addedId;
            }
        }
        return -1;
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 2);
        Encode(text, addBos, parseSpecial: true, output);
        return output;
    }

    /// <inheritdoc />
    /// <remarks>Added and special tokens written in <paramref name="text"/> become their ids (Hugging Face's default).</remarks>
    public void Encode(string text, bool addBos, List<int> output) => Encode(text, addBos, parseSpecial: true, output);

    /// <summary>
    /// Encodes <paramref name="text"/>; with <paramref name="parseSpecial"/> false, control tokens such as
    /// <c>&lt;|im_end|&gt;</c> written in the text stay plain text (use it for untrusted user content; llama.cpp's
    /// <c>parse_special = false</c>). User-defined added tokens are matched either way.
    /// </summary>
    public void Encode(string text, bool addBos, bool parseSpecial, List<int> output)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        if (addBos && BosId >= 0)
            output.Add(BosId);
        if (NormalizeNfc && !text.IsNormalized(NormalizationForm.FormC))
            text = text.Normalize(NormalizationForm.FormC);

        var fragmentStart = 0;
        if (_addedByFirstChar.Count > 0)
        {
            for (var i = 0; i < text.Length; i++)
            {
                if (!_addedByFirstChar.TryGetValue(text[i], out var candidates))
                    continue;
                foreach (var (token, id) in candidates)
                {
                    if (!parseSpecial && _types[id] == SentencePieceTokenType.Control)
                        continue;
                    if (!text.AsSpan(i).StartsWith(token, StringComparison.Ordinal))
                        continue;
                    EncodeFragment(text.AsSpan(fragmentStart, i - fragmentStart), output);
                    output.Add(id);
                    fragmentStart = i + token.Length;
                    i = fragmentStart - 1;
                    break;
                }
            }
        }
        EncodeFragment(text.AsSpan(fragmentStart), output);
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> ids) => _decodeTable.Decode(ids);

    /// <inheritdoc />
    public string TokenText(int id) => _tokens[CheckId(id)];

    /// <inheritdoc />
    public bool IsControl(int id) => _types[CheckId(id)] == SentencePieceTokenType.Control;

    /// <inheritdoc />
    /// <remarks>Byte-level pieces carry their own spaces, so <paramref name="atSequenceStart"/> changes nothing here.</remarks>
    public StreamingDecoder CreateStreamingDecoder(bool atSequenceStart = true) => new(_decodeTable, atSequenceStart);

    // ── encoding ────────────────────────────────────────────────────────────────────────────────────────────

    private ref struct SplitState
    {
        public ReadOnlySpan<char> Text;
        public ByteLevelBpeTokenizer Owner;
        public List<int> Output;
    }

    private void EncodeFragment(ReadOnlySpan<char> fragment, List<int> output)
    {
        if (fragment.IsEmpty)
            return;
        var state = new SplitState { Text = fragment, Owner = this, Output = output };
        ByteLevelPreTokenizer.Split(PreTokenizer, fragment, ref state,
            static (ref SplitState s, int start, int length) => s.Owner.EncodeWord(s.Text.Slice(start, length), s.Output));
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> output)
    {
        if (word.Length <= MaxCachedWordChars && _cacheLookup.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }

        var maxBytes = Encoding.UTF8.GetMaxByteCount(word.Length);
        Span<byte> small = stackalloc byte[256];
        var bytes = maxBytes <= small.Length ? small : new byte[maxBytes];
        var byteCount = Encoding.UTF8.GetBytes(word, bytes); // a lone surrogate becomes EF BF BD, as Rust strings would hold it
        bytes = bytes[..byteCount];

        int[] ids;
        if (IgnoreMerges && TryWholeWord(bytes, out var wholeId))
            ids = [wholeId];
        else
            ids = Merge(bytes);

        output.AddRange(ids);
        if (word.Length <= MaxCachedWordChars)
        {
            if (_cache.Count >= MaxCacheEntries)
                _cache.Clear(); // crude bound; words repeat, so the cache refills with the frequent ones
            _cacheLookup.TryAdd(word, ids);
        }
    }

    private bool TryWholeWord(ReadOnlySpan<byte> bytes, out int id)
    {
        Span<char> mapped = bytes.Length <= 256 ? stackalloc char[bytes.Length] : new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
            mapped[i] = ByteToUnicode[bytes[i]];
        return _vocabLookup.TryGetValue(mapped, out id);
    }

    private struct Symbol
    {
        public int Id;
        public int Prev; // previous live symbol, -1 at the start
        public int Next; // next live symbol, -1 at the end
    }

    /// <summary>
    /// Merges a word's byte symbols: repeatedly the adjacent pair with the lowest rank, leftmost on ties (Hugging
    /// Face's <c>Word::merge_all</c>, llama.cpp's <c>llm_bigram_bpe</c> queue). Stale queue entries are skipped.
    /// </summary>
    private int[] Merge(ReadOnlySpan<byte> bytes)
    {
        var n = bytes.Length;
        if (n == 1)
            return _byteToId[bytes[0]] is >= 0 and var single ? [single] : UnknownId >= 0 ? [UnknownId] : [];
        var symbols = new Symbol[n];
        for (var i = 0; i < n; i++)
            symbols[i] = new Symbol { Id = _byteToId[bytes[i]], Prev = i - 1, Next = i + 1 < n ? i + 1 : -1 };

        var queue = new PriorityQueue<(int Left, int LeftId, int RightId, int Merged), (int Rank, int Left)>();
        for (var i = 0; i + 1 < n; i++)
            TryQueue(symbols, i, queue);

        var live = n;
        while (queue.TryDequeue(out var pair, out _))
        {
            ref var left = ref symbols[pair.Left];
            if (left.Id != pair.LeftId || left.Next < 0 || symbols[left.Next].Id != pair.RightId)
                continue; // one side already merged into something else
            var rightIndex = left.Next;
            left.Id = pair.Merged;
            left.Next = symbols[rightIndex].Next;
            symbols[rightIndex].Id = -1;
            if (left.Next >= 0)
                symbols[left.Next].Prev = pair.Left;
            live--;
            if (left.Prev >= 0)
                TryQueue(symbols, left.Prev, queue);
            TryQueue(symbols, pair.Left, queue);
        }

        var ids = new List<int>(live);
        for (var i = 0; i >= 0; i = symbols[i].Next)
            AddSymbol(ids, symbols[i].Id);
        return [.. ids];
    }

    private void AddSymbol(List<int> ids, int id)
    {
        if (id >= 0)
            ids.Add(id);
        else if (UnknownId >= 0)
            ids.Add(UnknownId);
    }

    private void TryQueue(Symbol[] symbols, int left, PriorityQueue<(int, int, int, int), (int, int)> queue)
    {
        var right = symbols[left].Next;
        if (right < 0)
            return;
        if (_merges.TryGetValue(Key(symbols[left].Id, symbols[right].Id), out var merge))
            queue.Enqueue((left, symbols[left].Id, symbols[right].Id, merge.Merged), (merge.Rank, left));
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    // ── vocabulary ──────────────────────────────────────────────────────────────────────────────────────────

    /// <summary>
    /// GPT-2's <c>bytes_to_unicode</c> (openai/gpt-2 encoder.py): the printable bytes <c>!</c>..<c>~</c>,
    /// <c>¡</c>..<c>¬</c>, <c>®</c>..<c>ÿ</c> stand for themselves; the other 68 bytes take U+0100, U+0101, … in
    /// byte order (so space 0x20 is Ġ U+0120 and newline 0x0A is Ċ U+010A).
    /// </summary>
    internal static readonly char[] ByteToUnicode = BuildByteToUnicode();

    private static char[] BuildByteToUnicode()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private TokenDecodeTable BuildDecodeTable()
    {
        var unicodeToByte = new Dictionary<char, byte>(256);
        for (var b = 0; b < 256; b++)
            unicodeToByte[ByteToUnicode[b]] = (byte)b;

        var n = _tokens.Length;
        var bytes = new byte[n][];
        var kinds = new PieceDisplay[n];
        var buffer = new List<byte>(64);
        for (var id = 0; id < n; id++)
        {
            switch (_types[id])
            {
                case SentencePieceTokenType.Control or SentencePieceTokenType.Unused:
                    bytes[id] = [];
                    kinds[id] = PieceDisplay.Silent;
                    break;
                case SentencePieceTokenType.UserDefined or SentencePieceTokenType.Unknown:
                    bytes[id] = Encoding.UTF8.GetBytes(_tokens[id]); // added tokens are stored as plain text
                    kinds[id] = PieceDisplay.Text;
                    break;
                default:
                    buffer.Clear();
                    var token = _tokens[id];
                    for (var i = 0; i < token.Length; i++)
                    {
                        if (unicodeToByte.TryGetValue(token[i], out var b))
                        {
                            buffer.Add(b);
                        }
                        else
                        {
                            // Not in the byte alphabet (a hand-added token): show the character itself.
                            var len = char.IsSurrogatePair(token, i) ? 2 : 1;
                            buffer.AddRange(Encoding.UTF8.GetBytes(token.Substring(i, len)));
                            i += len - 1;
                        }
                    }
                    bytes[id] = [.. buffer];
                    kinds[id] = PieceDisplay.RawByte; // never strip a leading space: byte-level pieces own theirs
                    break;
            }
        }
        return new TokenDecodeTable(bytes, kinds, BosId, stripLeadingSpace: false);
    }

    private static void CheckSpecialId(string source, string what, int id, int n)
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
