namespace RagTune.Tokenizers;

/// <summary>The tokenizer families RagTune implements.</summary>
public enum TokenizerKind
{
    /// <summary>SentencePiece BPE with score-ordered merges and byte fallback (Llama 2, TinyLlama, llama2.c).</summary>
    SentencePieceBpe,

    /// <summary>GPT-2 style byte-level BPE with ranked merges.</summary>
    ByteLevelBpe,

    /// <summary>BERT WordPiece.</summary>
    WordPiece,
}

/// <summary>
/// The shape all RagTune tokenizers share: text to ids and back, plus what a sampler or a UI needs to
/// know about single ids. Implementations are immutable and safe to use from many threads.
/// </summary>
public interface ITokenizer
{
    /// <summary>Which family this tokenizer belongs to.</summary>
    TokenizerKind Kind { get; }

    /// <summary>Number of ids; every id the tokenizer produces or accepts is in <c>[0, VocabSize)</c>.</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or -1 when the vocabulary has none.</summary>
    int BosId { get; }

    /// <summary>End-of-sequence id, or -1 when the vocabulary has none.</summary>
    int EosId { get; }

    /// <summary>Unknown-token id, or -1 when the vocabulary has none.</summary>
    int UnknownId { get; }

    /// <summary>Encodes <paramref name="text"/>; prepends <see cref="BosId"/> when <paramref name="addBos"/> is set.</summary>
    IReadOnlyList<int> Encode(string text, bool addBos);

    /// <summary>Encodes <paramref name="text"/> and appends the ids to <paramref name="output"/>.</summary>
    void Encode(string text, bool addBos, List<int> output);

    /// <summary>Decodes a whole sequence; equal to feeding the ids one by one to a fresh <see cref="StreamingDecoder"/> and flushing.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>The raw vocabulary piece of <paramref name="id"/> (e.g. <c>▁Hello</c>, <c>&lt;0x0A&gt;</c>), for display and debugging.</summary>
    string TokenText(int id);

    /// <summary>Whether <paramref name="id"/> is a control token (BOS, EOS, …) that decodes to no text.</summary>
    bool IsControl(int id);

    /// <summary>A decoder for one generated sequence that emits text as soon as it is complete UTF-8.</summary>
    /// <param name="atSequenceStart">
    /// True (default) when the first id fed starts a sequence, so its leading space is dropped like a BOS-led
    /// decode; false when continuing after a prompt, so the first generated word keeps its space.
    /// </param>
    StreamingDecoder CreateStreamingDecoder(bool atSequenceStart = true);
}
