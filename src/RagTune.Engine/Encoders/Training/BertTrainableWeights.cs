using System.Globalization;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;
using RagTune.Engine.Training;

namespace RagTune.Engine.Encoders;

/// <summary>
/// An F32 copy of a BERT encoder's weights for full fine-tuning, each tensor with a gradient of the same size
/// (<see cref="LoraParameter"/> is the engine's generic trainable tensor; AdamW updates a list of them). Whatever the
/// checkpoint stores (F32, F16, BF16, Q8_0, Q4_0) is expanded to F32 here: gradients of rounded weights would be
/// biased. The pooler and classifier heads are not trained (sentence pooling does not use them) but are kept to be
/// written back. Legend as in <see cref="BertWeights"/>.
/// </summary>
public sealed class BertTrainableWeights
{
    private readonly List<(LoraParameter Parameter, long[] Shape)> _all = [];
    private readonly List<(string Name, long[] Shape, float[] Values)> _frozen = [];

    private BertTrainableWeights(BertConfig config) => Config = config;

    /// <summary>Hyperparameters.</summary>
    public BertConfig Config { get; }

    internal LoraParameter WordEmbeddings { get; private set; } = null!;      // [V, H]
    internal LoraParameter PositionEmbeddings { get; private set; } = null!;  // [P, H]
    internal LoraParameter TypeEmbeddings { get; private set; } = null!;      // [S, H]
    internal LoraParameter EmbeddingNormWeight { get; private set; } = null!; // [1, H]
    internal LoraParameter EmbeddingNormBias { get; private set; } = null!;   // [1, H]
    internal BertTrainableLayer[] Layers { get; private set; } = [];          // [L]

    /// <summary>Every trainable tensor, in checkpoint order (Hugging Face names).</summary>
    public IReadOnlyList<LoraParameter> Parameters => _all.Select(p => p.Parameter).ToList();

    /// <summary>Total trainable values.</summary>
    public long Count => _all.Sum(p => (long)p.Parameter.Values.Length);

    /// <summary>Copies <paramref name="encoder"/>'s weights into F32 trainable tensors.</summary>
    /// <exception cref="ModelFormatException">The encoder carries a classification head (a cross-encoder).</exception>
    public static BertTrainableWeights FromEncoder(BertEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        var c = encoder.Config;
        if (c.NumLabels > 0)
            throw new ModelFormatException(encoder.WeightsPath, "this checkpoint is a cross-encoder (BertForSequenceClassification); only embedding encoders are fine-tuned here.");
        var w = encoder.Weights;
        var t = new BertTrainableWeights(c);
        t.WordEmbeddings = t.Add("embeddings.word_embeddings.weight", w.WordEmbeddings);
        t.PositionEmbeddings = t.Add("embeddings.position_embeddings.weight", w.PositionEmbeddings);
        t.TypeEmbeddings = t.Add("embeddings.token_type_embeddings.weight", w.TypeEmbeddings);
        t.EmbeddingNormWeight = t.Add("embeddings.LayerNorm.weight", w.EmbeddingNormWeight);
        t.EmbeddingNormBias = t.Add("embeddings.LayerNorm.bias", w.EmbeddingNormBias);
        t.Layers = new BertTrainableLayer[c.Layers];
        for (int l = 0; l < c.Layers; l++)
        {
            var s = w.Layers[l];
            string p = string.Create(CultureInfo.InvariantCulture, $"encoder.layer.{l}.");
            t.Layers[l] = new BertTrainableLayer
            {
                Query = t.Add(p + "attention.self.query.weight", s.Query),
                QueryBias = t.Add(p + "attention.self.query.bias", s.QueryBias),
                Key = t.Add(p + "attention.self.key.weight", s.Key),
                KeyBias = t.Add(p + "attention.self.key.bias", s.KeyBias),
                Value = t.Add(p + "attention.self.value.weight", s.Value),
                ValueBias = t.Add(p + "attention.self.value.bias", s.ValueBias),
                AttentionOutput = t.Add(p + "attention.output.dense.weight", s.AttentionOutput),
                AttentionOutputBias = t.Add(p + "attention.output.dense.bias", s.AttentionOutputBias),
                AttentionNormWeight = t.Add(p + "attention.output.LayerNorm.weight", s.AttentionNormWeight),
                AttentionNormBias = t.Add(p + "attention.output.LayerNorm.bias", s.AttentionNormBias),
                Intermediate = t.Add(p + "intermediate.dense.weight", s.Intermediate),
                IntermediateBias = t.Add(p + "intermediate.dense.bias", s.IntermediateBias),
                Output = t.Add(p + "output.dense.weight", s.Output),
                OutputBias = t.Add(p + "output.dense.bias", s.OutputBias),
                OutputNormWeight = t.Add(p + "output.LayerNorm.weight", s.OutputNormWeight),
                OutputNormBias = t.Add(p + "output.LayerNorm.bias", s.OutputNormBias),
            };
        }
        if (!w.PoolerWeight.IsEmpty && w.PoolerBias != null)
        {
            t._frozen.Add(("pooler.dense.weight", [c.Hidden, c.Hidden], Expand(w.PoolerWeight)));
            t._frozen.Add(("pooler.dense.bias", [c.Hidden], w.PoolerBias));
        }
        return t;
    }

    /// <summary>Clears every gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var (p, _) in _all) Array.Clear(p.Grad);
    }

    /// <summary>
    /// Writes the weights (trained tensors, then the untouched pooler) as an F32 <c>model.safetensors</c> with
    /// <c>BertModel</c> names, the layout sentence-transformers saves and <see cref="BertEncoder.Load"/> reads.
    /// </summary>
    public void Save(string path)
    {
        var writer = new SafetensorsWriter();
        writer.SetMetadata("format", "pt");
        foreach (var (p, shape) in _all) writer.AddTensor(p.Name, GgmlType.F32, shape, p.Values);
        foreach (var (name, shape, values) in _frozen) writer.AddTensor(name, GgmlType.F32, shape, values);
        writer.Write(path);
    }

    /// <summary>Copies of every trainable value, for keeping the best checkpoint in memory.</summary>
    public float[][] Snapshot() => _all.Select(p => (float[])p.Parameter.Values.Clone()).ToArray();

    /// <summary>Restores values taken by <see cref="Snapshot"/>.</summary>
    public void Restore(float[][] snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Length != _all.Count) throw new ArgumentException($"The snapshot holds {snapshot.Length} tensors; these weights have {_all.Count}.", nameof(snapshot));
        for (int i = 0; i < snapshot.Length; i++) snapshot[i].CopyTo(_all[i].Parameter.Values, 0);
    }

    private LoraParameter Add(string name, in TensorView view)
    {
        var p = new LoraParameter(name, [checked((int)view.Rows), view.Cols]);
        Expand(view, p.Values);
        _all.Add((p, [view.Rows, view.Cols]));
        return p;
    }

    private LoraParameter Add(string name, float[] values)
    {
        var p = new LoraParameter(name, [1, values.Length]);
        values.CopyTo(p.Values, 0);
        _all.Add((p, [values.Length]));
        return p;
    }

    private static float[] Expand(in TensorView view)
    {
        var values = new float[view.Rows * view.Cols];
        Expand(view, values);
        return values;
    }

    private static void Expand(in TensorView view, float[] values)
    {
        for (long r = 0; r < view.Rows; r++)
            Quant.DequantizeRow(view.Type, view.Row(r), values.AsSpan(checked((int)(r * view.Cols)), view.Cols));
    }
}

/// <summary>One post-LayerNorm layer's trainable tensors (vectors are [1, n]).</summary>
internal sealed class BertTrainableLayer
{
    public required LoraParameter Query { get; init; }               // [H, H]
    public required LoraParameter QueryBias { get; init; }           // [1, H]
    public required LoraParameter Key { get; init; }                 // [H, H]
    public required LoraParameter KeyBias { get; init; }             // [1, H]
    public required LoraParameter Value { get; init; }               // [H, H]
    public required LoraParameter ValueBias { get; init; }           // [1, H]
    public required LoraParameter AttentionOutput { get; init; }     // [H, H]
    public required LoraParameter AttentionOutputBias { get; init; } // [1, H]
    public required LoraParameter AttentionNormWeight { get; init; } // [1, H]
    public required LoraParameter AttentionNormBias { get; init; }   // [1, H]
    public required LoraParameter Intermediate { get; init; }        // [I, H]
    public required LoraParameter IntermediateBias { get; init; }    // [1, I]
    public required LoraParameter Output { get; init; }              // [H, I]
    public required LoraParameter OutputBias { get; init; }          // [1, H]
    public required LoraParameter OutputNormWeight { get; init; }    // [1, H]
    public required LoraParameter OutputNormBias { get; init; }      // [1, H]
}
