using RagTune.Engine.Tensors;

namespace RagTune.Engine.Models;

// Dimension legend: D model width, F feed-forward width, V vocabulary, Q = H*headDim, K = KvH*headDim.

/// <summary>One transformer block's weights: read-only views into mapped memory (second lifetime).</summary>
internal sealed class LayerWeights
{
    public TensorView AttnNorm;   // [D] f32
    public TensorView Wq;         // [Q, D]
    public TensorView Wk;         // [K, D]
    public TensorView Wv;         // [K, D]
    public TensorView Wo;         // [D, Q]
    public TensorView Bq;         // [Q] f32, qwen2 only (empty otherwise)
    public TensorView Bk;         // [K] f32, qwen2 only
    public TensorView Bv;         // [K] f32, qwen2 only
    public TensorView Canon;      // [K, D] f32, canon layer before attention (empty when the model has none)
    public TensorView FfnNorm;    // [D] f32
    public TensorView Gate;       // [F, D]
    public TensorView Up;         // [F, D]
    public TensorView Down;       // [D, F]
}

/// <summary>All weights of a decoder. Engine names only: checkpoint names are mapped by the loaders.</summary>
public sealed class ModelWeights
{
    internal TensorView TokenEmbedding; // [V, D]
    internal LayerWeights[] Layers = [];
    internal TensorView OutputNorm;     // [D] f32
    internal TensorView Output;         // [V, D]; the same view as TokenEmbedding when tied

    /// <summary>True when the output projection is the token embedding (one matrix, counted once).</summary>
    public bool TiedOutput { get; internal set; }

    /// <summary>True when the attention's query, key and value projections carry biases (qwen2).</summary>
    public bool QkvBias => Layers.Length > 0 && !Layers[0].Bq.IsEmpty;

    /// <summary>Bytes of weight data referenced (tied output counted once).</summary>
    public long ByteLength
    {
        get
        {
            long n = TokenEmbedding.ByteLength + OutputNorm.ByteLength + (TiedOutput ? 0 : Output.ByteLength);
            foreach (var l in Layers)
                n += l.AttnNorm.ByteLength + l.Wq.ByteLength + l.Wk.ByteLength + l.Wv.ByteLength + l.Wo.ByteLength
                   + l.Bq.ByteLength + l.Bk.ByteLength + l.Bv.ByteLength + l.Canon.ByteLength
                   + l.FfnNorm.ByteLength + l.Gate.ByteLength + l.Up.ByteLength + l.Down.ByteLength;
            return n;
        }
    }
}
