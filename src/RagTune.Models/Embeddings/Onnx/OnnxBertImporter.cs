using System.Globalization;
using Google.Protobuf;
using Onnx;
using RagTune.Engine.Encoders;

namespace RagTune.Models.Embeddings.Onnx;

/// <summary>
/// The weights of a BERT encoder exported to ONNX (torch.onnx / optimum), under their Hugging Face names and
/// PyTorch shapes, with the hyperparameters read off the graph. The ONNX file is only a container here: the
/// encoder runs on our engine.
/// </summary>
/// <param name="Source">The .onnx file, for messages.</param>
/// <param name="Config">Hyperparameters found in the graph.</param>
/// <param name="Tensors">HF name → (PyTorch shape, F32 values); matrices are [out, in].</param>
public sealed record OnnxBertModel(string Source, BertConfig Config, IReadOnlyDictionary<string, (long[] Shape, float[] Values)> Tensors);

/// <summary>
/// Reads a BERT-family <c>model.onnx</c> with the ONNX protobuf classes (OnnxSharp over Google.Protobuf) and maps its
/// initializers to BERT weights by following the graph: embedding tables and LayerNorm parameters keep their
/// PyTorch names in exports; a linear layer is a <c>MatMul</c> by an anonymous initializer (stored [in, out]) whose
/// output feeds an <c>Add</c> of <c>&lt;module&gt;.bias</c>, so the weight is <c>&lt;module&gt;.weight</c>, transposed.
/// Heads come from the constant in the attention's head-splitting <c>Reshape</c>, epsilon from the LayerNorm's
/// <c>Add</c> before <c>Sqrt</c> (or a <c>LayerNormalization</c> node). A graph with any other operator, a GELU
/// other than the erf form, or missing a BERT tensor is refused naming the node or tensor.
/// </summary>
public static class OnnxBertImporter
{
    // The operators torch.onnx and optimum emit for BertModel (opset 11..17), LayerNormalization included.
    private static readonly HashSet<string> s_bertOps = new(StringComparer.Ordinal)
    {
        "Constant", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "ReduceMean", "MatMul", "Gemm", "Gather", "Shape",
        "Unsqueeze", "Squeeze", "Concat", "Reshape", "Transpose", "Softmax", "Cast", "Slice", "Expand", "ConstantOfShape",
        "Equal", "Where", "Identity", "Range", "LayerNormalization",
    };

    /// <summary>The modules of one encoder layer, each with a weight and a bias.</summary>
    private static readonly string[] s_layerModules =
    [
        "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "attention.output.LayerNorm",
        "intermediate.dense", "output.dense", "output.LayerNorm",
    ];

    /// <summary>Reads and maps <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="EmbeddingModelException">The file is not an ONNX model, or not a BERT encoder (the message names the node or tensor).</exception>
    public static OnnxBertModel Import(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' does not exist.", path);
        ModelProto model;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new EmbeddingModelException($"{path}: not an ONNX model ({e.Message}); the file is corrupt or truncated. Download it again.", e);
        }
        if (model.Graph is not { } graph || graph.Node.Count == 0)
            throw new EmbeddingModelException($"{path}: the ONNX file holds no graph; it is corrupt or not a model. Download it again.");
        return Map(path, graph);
    }

    private static OnnxBertModel Map(string path, GraphProto graph)
    {
        foreach (var n in graph.Node)
        {
            if (!s_bertOps.Contains(n.OpType))
                throw new EmbeddingModelException($"{path}: node '{n.Name}' ({n.OpType}) is not part of a BERT encoder; RagTune imports BERT-family encoders "
                    + "(BertModel exported with torch.onnx or optimum) only.");
            // The graph is followed through inputs and outputs below; a node without them is a damaged file.
            int inputs = MinInputs(n.OpType);
            if (n.Output.Count == 0 || n.Input.Count < inputs)
                throw new EmbeddingModelException($"{path}: node '{n.Name}' ({n.OpType}) has {n.Input.Count} input(s) and {n.Output.Count} output(s); "
                    + $"it needs at least {inputs} and 1. The file is damaged: download it again.");
        }
        if (!graph.Node.Any(n => n.OpType == "Erf"))
            throw new EmbeddingModelException($"{path}: the graph has no Erf node, so its GELU is not the exact erf form BERT uses; this encoder is not supported.");

        var inits = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var constants = graph.Node.Where(n => n.OpType == "Constant" && n.Output.Count == 1)
            .Select(n => (n.Output[0], n.Attribute.FirstOrDefault(a => a.Name == "value")?.T))
            .Where(p => p.Item2 != null).ToDictionary(p => p.Item1, p => p.Item2!, StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in graph.Node)
        {
            foreach (var i in n.Input)
            {
                if (!consumers.TryGetValue(i, out var list)) consumers[i] = list = [];
                list.Add(n);
            }
            foreach (var o in n.Output) producer[o] = n;
        }

        var tensors = new Dictionary<string, (long[] Shape, float[] Values)>(StringComparer.Ordinal);
        // Named initializers (embeddings, biases, LayerNorm) keep their PyTorch names and shapes.
        foreach (var t in graph.Initializer)
            if (t.Name.EndsWith(".weight", StringComparison.Ordinal) || t.Name.EndsWith(".bias", StringComparison.Ordinal))
                tensors[t.Name] = ([.. t.Dims], Floats(path, t));

        var linear = new HashSet<string>(StringComparer.Ordinal);
        // Linear layers: MatMul(x, W[in, out]) → Add(<module>.bias) gives <module>.weight = Wᵀ [out, in].
        foreach (var n in graph.Node.Where(n => n.OpType is "MatMul" or "Gemm"))
        {
            if (n.Input.Count < 2 || !inits.TryGetValue(n.Input[1], out var w) || w.Dims.Count != 2) continue; // activation × activation (attention)
            if (n.OpType == "Gemm")
            {
                // The pooler: Gemm(x, pooler.dense.weight, pooler.dense.bias, transB = 1) already holds [out, in].
                bool transB = n.Attribute.Any(a => a.Name == "transB" && a.I == 1);
                if (!w.Name.EndsWith(".weight", StringComparison.Ordinal))
                    throw new EmbeddingModelException($"{path}: node '{n.Name}' (Gemm) multiplies by '{w.Name}', which is not a named BERT weight.");
                if (!transB) tensors[w.Name] = Transpose(path, w);
                continue;
            }
            var bias = (consumers.GetValueOrDefault(n.Output[0]) ?? [])
                .Where(c => c.OpType == "Add")
                .SelectMany(c => c.Input)
                .FirstOrDefault(i => inits.ContainsKey(i) && i.EndsWith(".bias", StringComparison.Ordinal))
                ?? throw new EmbeddingModelException($"{path}: node '{n.Name}' (MatMul by '{w.Name}') is not followed by an Add of a '<module>.bias' "
                    + "initializer, so its weight cannot be named; this is not a BERT encoder export RagTune reads.");
            var name = bias[..^".bias".Length] + ".weight";
            if (!linear.Add(name))
                throw new EmbeddingModelException($"{path}: node '{n.Name}' maps to '{name}', which another node already gave a weight.");
            tensors[name] = Transpose(path, w);
        }

        // BertModel exports put everything at the top level; BertFor… heads add a 'bert.' prefix.
        string prefix = tensors.ContainsKey("embeddings.word_embeddings.weight") ? "" : tensors.ContainsKey("bert.embeddings.word_embeddings.weight") ? "bert." : "";
        (long[] Shape, float[] Values) Need(string name) => tensors.TryGetValue(prefix + name, out var t) ? t
            : throw new EmbeddingModelException($"{path}: tensor '{prefix + name}' is missing; the graph is not a complete BERT encoder.");
        var word = Need("embeddings.word_embeddings.weight");
        var pos = Need("embeddings.position_embeddings.weight");
        var types = Need("embeddings.token_type_embeddings.weight");
        int layers = 0;
        while (tensors.ContainsKey($"{prefix}encoder.layer.{layers}.attention.self.query.weight")) layers++;
        if (layers == 0) throw new EmbeddingModelException($"{path}: no 'encoder.layer.0.attention.self.query' weight was found; the graph is not a BERT encoder.");
        int hidden = checked((int)word.Shape[1]);
        // Every tensor of every layer must be there: an export that lost names (e.g. an exporter merging identical
        // LayerNorm initializers into one) would otherwise import and fail only when the encoder is loaded.
        Need("embeddings.LayerNorm.weight");
        Need("embeddings.LayerNorm.bias");
        for (int l = 0; l < layers; l++)
            foreach (var module in s_layerModules)
            {
                Need($"encoder.layer.{l}.{module}.weight");
                Need($"encoder.layer.{l}.{module}.bias");
            }
        int intermediate = checked((int)Need("encoder.layer.0.intermediate.dense.bias").Shape[0]);
        int heads = Heads(path, prefix, hidden, inits, constants, consumers, producer, graph);
        float eps = Epsilon(path, graph, inits, constants);
        var config = new BertConfig(checked((int)word.Shape[0]), hidden, layers, heads, intermediate, checked((int)pos.Shape[0]), checked((int)types.Shape[0]), eps);
        config.Validate(path);
        // Drop what is not a weight of ours (position_ids buffers and the like) so writers only see BERT tensors.
        foreach (var k in tensors.Keys.Where(k => k.Contains("position_ids", StringComparison.Ordinal)).ToList()) tensors.Remove(k);
        return new OnnxBertModel(path, config, tensors);
    }

    // The query projection's output is split into heads by Reshape(q, Concat(batch, seq, heads, head_dim)).
    private static int Heads(string path, string prefix, int hidden, Dictionary<string, TensorProto> inits, Dictionary<string, TensorProto> constants, Dictionary<string, List<NodeProto>> consumers,
        Dictionary<string, NodeProto> producer, GraphProto graph)
    {
        var biasAdd = graph.Node.FirstOrDefault(n => n.OpType == "Add" && n.Input.Contains(prefix + "encoder.layer.0.attention.self.query.bias"))
            ?? throw new EmbeddingModelException($"{path}: no Add uses '{prefix}encoder.layer.0.attention.self.query.bias'; the attention cannot be read.");
        foreach (var reshape in (consumers.GetValueOrDefault(biasAdd.Output[0]) ?? []).Where(c => c.OpType == "Reshape"))
        {
            var shape = Ints(reshape.Input[1], inits, constants);
            if (shape == null && producer.TryGetValue(reshape.Input[1], out var concat) && concat.OpType == "Concat" && concat.Input.Count == 4)
            {
                var parts = concat.Input.Select(i => Ints(i, inits, constants)).ToArray();
                if (parts[2] is [var h] && parts[3] is [var d]) shape = [0, 0, h, d];
            }
            if (shape is [_, _, var heads, var dim] && heads > 0 && heads * dim == hidden) return checked((int)heads);
        }
        throw new EmbeddingModelException($"{path}: node '{biasAdd.Name}' (the layer-0 query bias) does not feed a Reshape into [batch, seq, heads, head_dim]; "
            + "the head count cannot be read from this graph.");
    }

    // LayerNorm epsilon: LayerNormalization's attribute, or the constant added to the variance before Sqrt.
    private static float Epsilon(string path, GraphProto graph, Dictionary<string, TensorProto> inits, Dictionary<string, TensorProto> constants)
    {
        if (graph.Node.FirstOrDefault(n => n.OpType == "LayerNormalization") is { } ln)
            return ln.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
        var sqrtInputs = graph.Node.Where(n => n.OpType == "Sqrt").Select(n => n.Input[0]).ToHashSet(StringComparer.Ordinal);
        foreach (var add in graph.Node.Where(n => n.OpType == "Add" && sqrtInputs.Contains(n.Output[0])))
            foreach (var i in add.Input)
                if ((inits.GetValueOrDefault(i) ?? constants.GetValueOrDefault(i)) is { DataType: (int)TensorProto.Types.DataType.Float } t && Floats(path, t) is [var eps])
                    return eps;
        throw new EmbeddingModelException($"{path}: no LayerNorm epsilon was found (neither a LayerNormalization node nor an Add before Sqrt).");
    }

    private static int MinInputs(string op) => op switch
    {
        "Constant" => 0,
        "Add" or "Sub" or "Mul" or "Div" or "Pow" or "MatMul" or "Gemm" or "Reshape" or "Gather" or "Expand" or "Equal" or "Where" => op == "Where" ? 3 : 2,
        _ => 1,
    };

    private static long[]? Ints(string name, Dictionary<string, TensorProto> inits, Dictionary<string, TensorProto> constants)
    {
        if ((inits.GetValueOrDefault(name) ?? constants.GetValueOrDefault(name)) is not { } t) return null;
        if (t.DataType != (int)TensorProto.Types.DataType.Int64) return null;
        if (t.Int64Data.Count > 0) return [.. t.Int64Data];
        var raw = t.RawData.Span;
        var v = new long[raw.Length / 8];
        for (int i = 0; i < v.Length; i++) v[i] = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]);
        return v;
    }

    private static (long[] Shape, float[] Values) Transpose(string path, TensorProto w)
    {
        var src = Floats(path, w); // [in, out]
        int rows = checked((int)w.Dims[0]), cols = checked((int)w.Dims[1]);
        var dst = new float[src.Length]; // [out, in]
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                dst[(long)c * rows + r] = src[(long)r * cols + c];
        return ([cols, rows], dst);
    }

    private static float[] Floats(string path, TensorProto t)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw new EmbeddingModelException($"{path}: tensor '{t.Name}' is stored in an external data file; save the model as one .onnx file (onnx.save(model, path, save_as_external_data=False)).");
        if (t.DataType != (int)TensorProto.Types.DataType.Float)
            throw new EmbeddingModelException($"{path}: tensor '{t.Name}' has ONNX data type {t.DataType}; only float32 weights are imported (export the model in fp32).");
        long count = t.Dims.Aggregate(1L, (a, b) => a * b);
        float[] v;
        if (t.FloatData.Count > 0)
        {
            v = [.. t.FloatData];
        }
        else
        {
            var raw = t.RawData.Span;
            if (raw.Length != count * 4)
                throw new EmbeddingModelException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}: tensor '{t.Name}' of shape [{string.Join(", ", t.Dims)}] holds {raw.Length} bytes, expected {count * 4}; the file is corrupt."));
            v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray();
        }
        if (v.Length != count)
            throw new EmbeddingModelException($"{path}: tensor '{t.Name}' holds {v.Length} values for {count} elements; the file is corrupt.");
        return v;
    }
}
