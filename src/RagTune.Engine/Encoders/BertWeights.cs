using RagTune.Engine.Tensors;

namespace RagTune.Engine.Encoders;

/// <summary>
/// Read-only BERT weights: matrices and embedding tables are views into the mapped checkpoint (F32, F16 or BF16,
/// never copied); biases and LayerNorm parameters, a few KB per layer, are expanded to float arrays at load.
/// Shapes use the legend V vocab, P positions, S segment types, H hidden, I intermediate, C classes.
/// </summary>
internal sealed class BertWeights
{
    public required TensorView WordEmbeddings { get; init; }      // [V, H]
    public required TensorView PositionEmbeddings { get; init; }  // [P, H]
    public required TensorView TypeEmbeddings { get; init; }      // [S, H]
    public required float[] EmbeddingNormWeight { get; init; }    // [H]
    public required float[] EmbeddingNormBias { get; init; }      // [H]
    public required BertLayerWeights[] Layers { get; init; }      // [L]

    /// <summary>Pooler dense + tanh over the [CLS] state (BertPooler); empty views when the checkpoint has none.</summary>
    public TensorView PoolerWeight { get; init; }                 // [H, H]
    public float[]? PoolerBias { get; init; }                     // [H]

    /// <summary>Sequence-classification head (BertForSequenceClassification); empty when absent.</summary>
    public TensorView ClassifierWeight { get; init; }             // [C, H]
    public float[]? ClassifierBias { get; init; }                 // [C]

    /// <summary>Reads every tensor of <paramref name="config"/> from <paramref name="file"/>, checking names and shapes.</summary>
    public static BertWeights Load(IEncoderTensors file, BertConfig config)
    {
        // BertModel checkpoints name tensors 'embeddings.…'; BertFor… heads put the encoder under 'bert.'.
        string prefix = file.Contains("embeddings.word_embeddings.weight") ? "" : file.Contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
        int h = config.Hidden, i = config.Intermediate;
        var layers = new BertLayerWeights[config.Layers];
        for (int l = 0; l < layers.Length; l++)
        {
            string p = $"{prefix}encoder.layer.{l}.";
            layers[l] = new BertLayerWeights
            {
                Query = file.View(p + "attention.self.query.weight", h, h),
                QueryBias = file.ReadFloats(p + "attention.self.query.bias", h),
                Key = file.View(p + "attention.self.key.weight", h, h),
                KeyBias = file.ReadFloats(p + "attention.self.key.bias", h),
                Value = file.View(p + "attention.self.value.weight", h, h),
                ValueBias = file.ReadFloats(p + "attention.self.value.bias", h),
                AttentionOutput = file.View(p + "attention.output.dense.weight", h, h),
                AttentionOutputBias = file.ReadFloats(p + "attention.output.dense.bias", h),
                AttentionNormWeight = file.ReadFloats(p + "attention.output.LayerNorm.weight", h),
                AttentionNormBias = file.ReadFloats(p + "attention.output.LayerNorm.bias", h),
                Intermediate = file.View(p + "intermediate.dense.weight", i, h),
                IntermediateBias = file.ReadFloats(p + "intermediate.dense.bias", i),
                Output = file.View(p + "output.dense.weight", h, i),
                OutputBias = file.ReadFloats(p + "output.dense.bias", h),
                OutputNormWeight = file.ReadFloats(p + "output.LayerNorm.weight", h),
                OutputNormBias = file.ReadFloats(p + "output.LayerNorm.bias", h),
            };
        }
        bool pooler = file.Contains(prefix + "pooler.dense.weight");
        bool classifier = config.NumLabels > 0;
        return new BertWeights
        {
            WordEmbeddings = file.View(prefix + "embeddings.word_embeddings.weight", config.VocabSize, h),
            PositionEmbeddings = file.View(prefix + "embeddings.position_embeddings.weight", config.MaxPositions, h),
            TypeEmbeddings = file.View(prefix + "embeddings.token_type_embeddings.weight", config.TypeVocabSize, h),
            EmbeddingNormWeight = file.ReadFloats(prefix + "embeddings.LayerNorm.weight", h),
            EmbeddingNormBias = file.ReadFloats(prefix + "embeddings.LayerNorm.bias", h),
            Layers = layers,
            PoolerWeight = pooler ? file.View(prefix + "pooler.dense.weight", h, h) : default,
            PoolerBias = pooler ? file.ReadFloats(prefix + "pooler.dense.bias", h) : null,
            ClassifierWeight = classifier ? file.View("classifier.weight", config.NumLabels, h) : default,
            ClassifierBias = classifier ? file.ReadFloats("classifier.bias", config.NumLabels) : null,
        };
    }
}

/// <summary>One post-LayerNorm BERT layer.</summary>
internal sealed class BertLayerWeights
{
    public required TensorView Query { get; init; }               // [H, H]
    public required float[] QueryBias { get; init; }              // [H]
    public required TensorView Key { get; init; }                 // [H, H]
    public required float[] KeyBias { get; init; }                // [H]
    public required TensorView Value { get; init; }               // [H, H]
    public required float[] ValueBias { get; init; }              // [H]
    public required TensorView AttentionOutput { get; init; }     // [H, H]
    public required float[] AttentionOutputBias { get; init; }    // [H]
    public required float[] AttentionNormWeight { get; init; }    // [H]
    public required float[] AttentionNormBias { get; init; }      // [H]
    public required TensorView Intermediate { get; init; }        // [I, H]
    public required float[] IntermediateBias { get; init; }       // [I]
    public required TensorView Output { get; init; }              // [H, I]
    public required float[] OutputBias { get; init; }             // [H]
    public required float[] OutputNormWeight { get; init; }       // [H]
    public required float[] OutputNormBias { get; init; }         // [H]
}
