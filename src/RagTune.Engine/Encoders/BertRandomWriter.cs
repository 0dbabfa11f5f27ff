using System.Globalization;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Encoders;

/// <summary>
/// Writes a BERT checkpoint with deterministic pseudo-random weights as a Hugging Face folder (<c>config.json</c> +
/// <c>model.safetensors</c>), for tests and benchmarks at real shapes (all-MiniLM-L6-v2, BGE-small) without
/// downloading anything.
/// </summary>
/// <remarks>
/// Element i of the j-th tensor (in <see cref="TensorList"/> order) is center + scale·(2u − 1) with
/// u = (splitmix64((seed ≪ 48) | (j ≪ 32) | i) ≫ 40) / 2²⁴. dev/reference/encoders/bert_golden.py implements the same
/// generator in numpy, so its golden outputs apply to the files written here without committing any weights.
/// Matrices use scale √(3 / fan-in) (unit variance outputs), LayerNorm weights 1 ± 0.2, biases ± 0.1, embeddings ± 0.5.
/// </remarks>
public static class BertRandomWriter
{
    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> into <paramref name="folder"/> (created if needed).</summary>
    public static void Write(string folder, BertConfig config, ulong seed, bool f16)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("BertRandomWriter");
        if (seed >= 1 << 16) throw new ArgumentOutOfRangeException(nameof(seed), seed, "Seeds are 16-bit (0..65535).");
        Directory.CreateDirectory(folder);
        var writer = new SafetensorsWriter();
        writer.SetMetadata("format", "pt");
        int j = 0;
        foreach (var (name, shape, center, scale) in TensorList(config))
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (count >= 1L << 32) throw new ArgumentException($"Tensor '{name}' is too large for the generator's 32-bit element index.");
            var values = new float[count];
            Fill(values, seed, j++, center, scale);
            writer.AddTensor(name, f16 ? GgmlType.F16 : GgmlType.F32, shape, values);
        }
        writer.Write(Path.Combine(folder, "model.safetensors"));
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJson());
    }

    /// <summary>
    /// Writes the same weights as a llama.cpp-style GGUF (architecture <c>bert</c>): matrices and embedding tables as
    /// <paramref name="type"/>, vectors as F32, <paramref name="tokens"/> (llama.cpp's ▁-marked WordPiece form) as
    /// the vocabulary, <paramref name="poolingType"/> as <c>bert.pooling_type</c> (1 mean, 2 cls).
    /// </summary>
    public static void WriteGguf(string path, BertConfig config, ulong seed, GgmlType type, string[] tokens, int poolingType = 1)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokens);
        config.Validate("BertRandomWriter");
        if (tokens.Length != config.VocabSize) throw new ArgumentException($"{tokens.Length} tokens for a vocabulary of {config.VocabSize}.", nameof(tokens));
        var w = new GgufWriter();
        w.SetString("general.architecture", "bert");
        w.SetString("general.name", "random-bert");
        w.SetUInt32("bert.context_length", (uint)config.MaxPositions);
        w.SetUInt32("bert.embedding_length", (uint)config.Hidden);
        w.SetUInt32("bert.feed_forward_length", (uint)config.Intermediate);
        w.SetUInt32("bert.block_count", (uint)config.Layers);
        w.SetUInt32("bert.attention.head_count", (uint)config.Heads);
        w.SetFloat32("bert.attention.layer_norm_epsilon", config.LayerNormEps);
        w.SetBool("bert.attention.causal", false);
        w.SetUInt32("bert.pooling_type", (uint)poolingType);
        w.SetString("tokenizer.ggml.model", "bert");
        w.SetStringArray("tokenizer.ggml.tokens", tokens);
        int j = 0;
        foreach (var (name, shape, center, scale) in TensorList(config))
        {
            int index = j++;
            var gguf = GgufEncoderTensors.GgufName(name);
            if (gguf == null) continue; // pooler and classifier heads are not part of a GGUF embedding model
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            Fill(values, seed, index, center, scale);
            long rows = shape.Length == 2 ? shape[0] : 1;
            int cols = checked((int)shape[^1]);
            var t = shape.Length == 2 ? type : GgmlType.F32;
            long rowBytes = GgmlTypes.Traits(t).RowBytes(cols);
            var data = new byte[rows * rowBytes];
            for (long r = 0; r < rows; r++)
                Quant.QuantizeRow(t, values.AsSpan((int)(r * cols), cols), data.AsSpan((int)(r * rowBytes), (int)rowBytes));
            w.AddTensor(gguf, t, shape.Length == 2 ? [cols, rows] : [cols], data);
        }
        w.Write(path);
    }

    /// <summary>Tensors in generator order: Hugging Face name, PyTorch shape, center, half-width.</summary>
    public static IEnumerable<(string Name, long[] Shape, float Center, float Scale)> TensorList(BertConfig c)
    {
        string p = c.NumLabels > 0 ? "bert." : "";
        long h = c.Hidden, i = c.Intermediate;
        float wh = MathF.Sqrt(3f / h), wi = MathF.Sqrt(3f / i);
        yield return (p + "embeddings.word_embeddings.weight", [c.VocabSize, h], 0f, 0.5f);
        yield return (p + "embeddings.position_embeddings.weight", [c.MaxPositions, h], 0f, 0.5f);
        yield return (p + "embeddings.token_type_embeddings.weight", [c.TypeVocabSize, h], 0f, 0.5f);
        yield return (p + "embeddings.LayerNorm.weight", [h], 1f, 0.2f);
        yield return (p + "embeddings.LayerNorm.bias", [h], 0f, 0.1f);
        for (int l = 0; l < c.Layers; l++)
        {
            string q = string.Create(CultureInfo.InvariantCulture, $"{p}encoder.layer.{l}.");
            foreach (var part in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                yield return (q + part + ".weight", [h, h], 0f, wh);
                yield return (q + part + ".bias", [h], 0f, 0.1f);
                if (part == "attention.output.dense")
                {
                    yield return (q + "attention.output.LayerNorm.weight", [h], 1f, 0.2f);
                    yield return (q + "attention.output.LayerNorm.bias", [h], 0f, 0.1f);
                }
            }
            yield return (q + "intermediate.dense.weight", [i, h], 0f, wh);
            yield return (q + "intermediate.dense.bias", [i], 0f, 0.1f);
            yield return (q + "output.dense.weight", [h, i], 0f, wi);
            yield return (q + "output.dense.bias", [h], 0f, 0.1f);
            yield return (q + "output.LayerNorm.weight", [h], 1f, 0.2f);
            yield return (q + "output.LayerNorm.bias", [h], 0f, 0.1f);
        }
        yield return (p + "pooler.dense.weight", [h, h], 0f, wh);
        yield return (p + "pooler.dense.bias", [h], 0f, 0.1f);
        if (c.NumLabels > 0)
        {
            yield return ("classifier.weight", [c.NumLabels, h], 0f, wh);
            yield return ("classifier.bias", [c.NumLabels], 0f, 0.1f);
        }
    }

    /// <summary>Fills <paramref name="values"/> with tensor <paramref name="tensorIndex"/>'s generator values.</summary>
    public static void Fill(Span<float> values, ulong seed, int tensorIndex, float center, float scale)
    {
        ulong key = (seed << 48) | ((ulong)tensorIndex << 32);
        for (int i = 0; i < values.Length; i++)
        {
            float u = (SplitMix64(key | (uint)i) >> 40) * (1f / (1 << 24));
            values[i] = center + scale * (2f * u - 1f);
        }
    }

    // Steele, Lea and Flood 2014 (SplittableRandom's mix): the finalizer of splitmix64 applied to key + golden gamma.
    private static ulong SplitMix64(ulong key)
    {
        ulong z = key + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
