using System.Buffers.Binary;
using System.Text;

namespace RagTune.Tokenizers;

public sealed partial class SentencePieceTokenizer
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Loads llama2.c's <c>tokenizer.bin</c> (written by its <c>tokenizer.py</c>): int32 max_token_length, then per
    /// token float32 score, int32 byte length and the UTF-8 piece, all little-endian. The file stores no types
    /// or special ids; llama2.c fixes UNK = 0, BOS = 1, EOS = 2, and byte tokens are recognised by their
    /// <c>&lt;0xNN&gt;</c> text. The exporter wrote ▁ as a space and BOS/EOS as <c>"\n&lt;s&gt;\n"</c>/<c>"\n&lt;/s&gt;\n"</c>;
    /// both are turned back into SentencePiece pieces here.
    /// </summary>
    /// <param name="path">The <c>tokenizer.bin</c> file.</param>
    /// <param name="vocabSize">The model's vocabulary size (llama2.c's <c>config.vocab_size</c>); the file must hold exactly this many tokens.</param>
    /// <exception cref="TokenizerFormatException">The file is truncated, has a negative length, or does not hold <paramref name="vocabSize"/> tokens.</exception>
    public static SentencePieceTokenizer FromLlamaCBin(string path, int vocabSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        var data = File.ReadAllBytes(path);
        const string hint = "Re-export it with llama2.c's tokenizer.py, or check the vocab_size of the model it belongs to.";

        if (data.Length < 4)
            throw new TokenizerFormatException(path, 0, $"truncated: the int32 max_token_length header needs 4 bytes, the file has {data.Length}. {hint}");
        var maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxTokenLength < 0)
            throw new TokenizerFormatException(path, 0, $"max_token_length is {maxTokenLength}; it must not be negative. {hint}");

        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var offset = 4;
        for (var id = 0; id < vocabSize; id++)
        {
            if (offset == data.Length)
                throw new TokenizerFormatException(path, offset, $"vocab size mismatch: the file ends after {id} tokens but the model's vocab_size is {vocabSize}. {hint}");
            if (data.Length - offset < 8)
                throw new TokenizerFormatException(path, offset, $"truncated inside token {id}: its score and length need 8 bytes, {data.Length - offset} remain. {hint}");
            scores[id] = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(offset));
            var length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(offset + 4));
            if (length < 0)
                throw new TokenizerFormatException(path, offset + 4, $"token {id} has negative length {length}. {hint}");
            offset += 8;
            if (data.Length - offset < length)
                throw new TokenizerFormatException(path, offset, $"truncated inside token {id}: its text needs {length} bytes, {data.Length - offset} remain. {hint}");
            string piece;
            try
            {
                piece = s_strictUtf8.GetString(data, offset, length);
            }
            catch (DecoderFallbackException e)
            {
                throw new TokenizerFormatException(path, offset, $"token {id} is not valid UTF-8. {hint}", e);
            }
            offset += length;
            tokens[id] = id switch
            {
                LlamaCBosId when piece == "\n<s>\n" => "<s>",
                LlamaCEosId when piece == "\n</s>\n" => "</s>",
                _ => piece.Replace(' ', SpaceMarker),
            };
        }
        if (offset != data.Length)
            throw new TokenizerFormatException(path, offset, $"vocab size mismatch: {data.Length - offset} bytes follow the {vocabSize} tokens the model's vocab_size asks for. {hint}");

        var vocab = new SentencePieceVocab(tokens, scores, TokenTypes: null,
            BosId: vocabSize > LlamaCBosId ? LlamaCBosId : -1,
            EosId: vocabSize > LlamaCEosId ? LlamaCEosId : -1,
            UnknownId: LlamaCUnknownId);
        return new SentencePieceTokenizer(vocab, path);
    }

    // llama2.c run.c hard-codes these (sentencepiece's defaults for Llama).
    private const int LlamaCUnknownId = 0;
    private const int LlamaCBosId = 1;
    private const int LlamaCEosId = 2;
}
