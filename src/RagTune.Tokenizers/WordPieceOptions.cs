namespace RagTune.Tokenizers;

/// <summary>
/// How a <see cref="WordPieceTokenizer"/> normalizes and splits text: the flags of Hugging Face's
/// <c>BertNormalizer</c> / <c>BertTokenizer</c> with their defaults (uncased BERT).
/// </summary>
public sealed record WordPieceOptions
{
    /// <summary>Lowercase every word (uncased models). Default true.</summary>
    public bool Lowercase { get; init; } = true;

    /// <summary>Strip accents (NFD, drop non-spacing marks); null (default) follows <see cref="Lowercase"/>, as HF does.</summary>
    public bool? StripAccents { get; init; }

    /// <summary>Put spaces around CJK ideographs so each becomes its own word. Default true.</summary>
    public bool HandleChineseChars { get; init; } = true;

    /// <summary>Replace control characters by nothing and whitespace by spaces. Default true.</summary>
    public bool CleanText { get; init; } = true;

    /// <summary>Words longer than this many code points become the unknown token. Default 100 (BERT's constant).</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;

    /// <summary>Prefix of word-continuation pieces. Default <c>##</c>.</summary>
    public string ContinuingSubwordPrefix { get; init; } = "##";

    /// <summary>Unknown token. Default <c>[UNK]</c>.</summary>
    public string UnknownToken { get; init; } = "[UNK]";

    /// <summary>Classification (sequence start) token. Default <c>[CLS]</c>.</summary>
    public string ClsToken { get; init; } = "[CLS]";

    /// <summary>Separator (sequence end) token. Default <c>[SEP]</c>.</summary>
    public string SepToken { get; init; } = "[SEP]";

    /// <summary>Padding token. Default <c>[PAD]</c>.</summary>
    public string PadToken { get; init; } = "[PAD]";

    /// <summary>Mask token (not needed for inference; -1 when missing). Default <c>[MASK]</c>.</summary>
    public string MaskToken { get; init; } = "[MASK]";

    internal bool EffectiveStripAccents => StripAccents ?? Lowercase;

    internal void Validate()
    {
        if (MaxInputCharsPerWord < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxInputCharsPerWord), MaxInputCharsPerWord, "MaxInputCharsPerWord must be at least 1 (BERT uses 100).");
        ArgumentException.ThrowIfNullOrEmpty(UnknownToken);
        ArgumentException.ThrowIfNullOrEmpty(ClsToken);
        ArgumentException.ThrowIfNullOrEmpty(SepToken);
        ArgumentNullException.ThrowIfNull(ContinuingSubwordPrefix);
    }
}

/// <summary>
/// Model input for one sequence or one pair: ids with <c>[CLS]</c>/<c>[SEP]</c> in place, BERT segment (token
/// type) ids of the same length, and whether text was cut to fit the length limit.
/// </summary>
public sealed record WordPieceEncoding(int[] Ids, int[] TypeIds, bool Truncated);
