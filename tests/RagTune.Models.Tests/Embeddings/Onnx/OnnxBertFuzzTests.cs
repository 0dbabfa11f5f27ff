using Google.Protobuf;
using Onnx;
using RagTune.Models.Embeddings;
using RagTune.Models.Embeddings.Onnx;
using RagTune.TestKit;
using RagTune.TestKit.Fuzzing;

namespace RagTune.Models.Tests.Embeddings.Onnx;

/// <summary>
/// Seeded mutants of a tiny BERT exported by torch.onnx (dev/reference/encoders/tiny_bert_onnx.py →
/// dev/reference/golden/tiny-bert.onnx; the graph of the real exports at hidden 32): each imports, or fails with
/// <see cref="EmbeddingModelException"/> naming the file, within 64 MiB of allocation. Counts in docs/reliability.md.
/// </summary>
public sealed class OnnxBertFuzzTests
{
    private static string Tiny => Path.Combine(Golden.Dir, "tiny-bert.onnx");

    [Fact]
    public void The_tiny_export_imports_with_its_shape_read_off_the_graph()
    {
        var m = OnnxBertImporter.Import(Tiny);
        Assert.Equal(new Engine.Encoders.BertConfig(128, 32, 2, 4, 64, 64, 2, 1e-12f), m.Config);
        Assert.Equal(5 + 16 * 2, m.Tensors.Count);
    }

    [Fact]
    public void Mutated_onnx_files_import_or_are_refused_by_name()
    {
        using var dir = new TempDir();
        var valid = File.ReadAllBytes(Tiny);
        var path = dir.File("model.onnx");
        // Anywhere in the file: the graph's nodes come first, the initializers' raw data after them.
        var opened = FuzzRun.Run<EmbeddingModelException>(path, seed: 80, count: 1500, r => Mutants.Binary(r, valid, valid.Length), p => OnnxBertImporter.Import(p));
        Assert.InRange(opened, 1, 1499);
    }

    /// <summary>The fuzz run's finding (seed 80, input 1359): a MatMul left without outputs was an ArgumentOutOfRangeException from protobuf.</summary>
    [Fact]
    public void A_node_without_outputs_is_refused_by_name()
    {
        using var dir = new TempDir();
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Tiny));
        var matmul = model.Graph.Node.First(n => n.OpType == "MatMul");
        matmul.Output.Clear();
        var path = dir.File("model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        var e = Assert.Throws<EmbeddingModelException>(() => OnnxBertImporter.Import(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"node '{matmul.Name}' (MatMul) has 2 input(s) and 0 output(s)", e.Message);
    }

    /// <summary>An export that lost a layer tensor's name is refused at import, naming the tensor, not later at load.</summary>
    [Fact]
    public void A_missing_layer_tensor_is_named_at_import()
    {
        using var dir = new TempDir();
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Tiny));
        var ln = model.Graph.Initializer.Single(t => t.Name == "encoder.layer.1.output.LayerNorm.weight");
        ln.Name = "onnx::Mul_merged";
        foreach (var n in model.Graph.Node)
            for (int i = 0; i < n.Input.Count; i++)
                if (n.Input[i] == "encoder.layer.1.output.LayerNorm.weight") n.Input[i] = ln.Name;
        var path = dir.File("model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        var e = Assert.Throws<EmbeddingModelException>(() => OnnxBertImporter.Import(path));
        Assert.Contains("tensor 'encoder.layer.1.output.LayerNorm.weight' is missing", e.Message);
    }
}
