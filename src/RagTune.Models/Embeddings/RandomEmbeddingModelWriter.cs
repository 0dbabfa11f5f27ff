using System.Globalization;
using RagTune.Engine.Encoders;

namespace RagTune.Models.Embeddings;

/// <summary>
/// Writes a complete sentence-transformers folder with deterministic random BERT weights (see
/// <see cref="BertRandomWriter"/>): config.json, model.safetensors, vocab.txt, tokenizer_config.json, modules.json,
/// 1_Pooling/config.json and sentence_bert_config.json. For tests and benchmarks at real shapes.
/// </summary>
public static class RandomEmbeddingModelWriter
{
    /// <summary>
    /// Writes the folder. <paramref name="vocabFile"/> is copied as vocab.txt when given (its size must match the
    /// config); otherwise a synthetic vocabulary is written: BERT's special ids ([PAD] 0, [UNK] 100, [CLS] 101,
    /// [SEP] 102, [MASK] 103) and <c>w{id}</c> for every other id, so the text "w200 w300" encodes to [101, 200, 300, 102].
    /// </summary>
    public static void Write(string folder, BertConfig config, ulong seed, bool f16, EmbeddingPooling pooling = EmbeddingPooling.Mean,
        bool normalize = true, int? maxSeqLength = null, string? vocabFile = null)
    {
        BertRandomWriter.Write(folder, config, seed, f16);
        var vocab = Path.Combine(folder, "vocab.txt");
        if (vocabFile != null)
        {
            File.Copy(vocabFile, vocab, overwrite: true);
        }
        else
        {
            if (config.VocabSize < 104) throw new ArgumentException("A synthetic BERT vocabulary needs at least 104 ids.", nameof(config));
            File.WriteAllLines(vocab, Enumerable.Range(0, config.VocabSize).Select(i => i switch
            {
                0 => "[PAD]",
                100 => "[UNK]",
                101 => "[CLS]",
                102 => "[SEP]",
                103 => "[MASK]",
                < 100 => $"[unused{i}]",
                _ => "w" + i.ToString(CultureInfo.InvariantCulture),
            }));
        }
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"do_lower_case": true, "tokenizer_class": "BertTokenizer"}""");
        SentenceTransformersConfig.Write(folder, config.Hidden, pooling, normalize, maxSeqLength ?? config.MaxPositions);
    }
}
