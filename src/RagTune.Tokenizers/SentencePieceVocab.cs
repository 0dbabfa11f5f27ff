namespace RagTune.Tokenizers;

/// <summary>
/// Token types as GGUF stores them in <c>tokenizer.ggml.token_type</c> (llama.cpp's <c>llama_token_type</c>,
/// mirroring SentencePiece's <c>ModelProto.SentencePiece.Type</c>).
/// </summary>
public enum SentencePieceTokenType
{
    /// <summary>0: not set; treated as <see cref="Normal"/>.</summary>
    Undefined = 0,

    /// <summary>1: an ordinary piece that takes part in merges.</summary>
    Normal = 1,

    /// <summary>2: the unknown token (<c>&lt;unk&gt;</c>).</summary>
    Unknown = 2,

    /// <summary>3: a control token (<c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>) never produced from text and decoded to nothing.</summary>
    Control = 3,

    /// <summary>4: a user-defined piece, matched whole in the input before merging.</summary>
    UserDefined = 4,

    /// <summary>5: an unused (reserved) piece; decodes to nothing.</summary>
    Unused = 5,

    /// <summary>6: a byte-fallback piece <c>&lt;0xNN&gt;</c>.</summary>
    Byte = 6,
}

/// <summary>
/// The raw vocabulary of a SentencePiece BPE model, as GGUF metadata (<c>tokenizer.ggml.*</c>) or llama2.c's
/// <c>tokenizer.bin</c> provides it. Pieces use U+2581 (▁) for spaces.
/// </summary>
/// <param name="Tokens">Piece text per id (<c>tokenizer.ggml.tokens</c>).</param>
/// <param name="Scores">Merge score per id, higher merges first (<c>tokenizer.ggml.scores</c>).</param>
/// <param name="TokenTypes">
/// GGUF token type per id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or null to infer:
/// <c>&lt;0xNN&gt;</c> pieces are bytes, <c>&lt;s&gt;</c>/<c>&lt;/s&gt;</c> and the BOS/EOS ids control,
/// <c>&lt;unk&gt;</c> and the unknown id unknown, everything else normal.
/// </param>
/// <param name="BosId">Beginning-of-sequence id (<c>tokenizer.ggml.bos_token_id</c>), or -1.</param>
/// <param name="EosId">End-of-sequence id (<c>tokenizer.ggml.eos_token_id</c>), or -1.</param>
/// <param name="UnknownId">Unknown id (<c>tokenizer.ggml.unknown_token_id</c>), or -1.</param>
/// <param name="AddSpacePrefix">
/// Prepend ▁ to the text before encoding and strip it again when decoding
/// (<c>tokenizer.ggml.add_space_prefix</c>, default true; SentencePiece's <c>add_dummy_prefix</c>).
/// </param>
public sealed record SentencePieceVocab(
    string[] Tokens,
    float[] Scores,
    int[]? TokenTypes,
    int BosId,
    int EosId,
    int UnknownId,
    bool AddSpacePrefix = true);
