using Microsoft.Extensions.AI;
using RagTune.Engine.Encoders;
using RagTune.Models.Embeddings;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Embeddings;

/// <summary>One random model at the golden shape (dev/reference/golden/bert_random.json), written once for the class.</summary>
public sealed class GoldenEmbeddingModel : IDisposable
{
    public GoldenEmbeddingModel()
    {
        var doc = Golden.Load("bert_random.json");
        var c = doc.GetProperty("config");
        int I(string n) => c.GetProperty(n).GetInt32();
        Config = new BertConfig(I("vocab_size"), I("hidden_size"), I("num_hidden_layers"), I("num_attention_heads"),
            I("intermediate_size"), I("max_position_embeddings"), I("type_vocab_size"), c.GetProperty("layer_norm_eps").GetSingle());
        Seed = doc.GetProperty("seed").GetUInt64();
        Expected = doc.GetProperty("results").GetProperty("f32");
        RandomEmbeddingModelWriter.Write(Dir.Path, Config, Seed, f16: false);
    }

    public TempDir Dir { get; } = new();
    internal BertConfig Config { get; }
    public ulong Seed { get; }
    public System.Text.Json.JsonElement Expected { get; }

    public void Dispose() => Dir.Dispose();
}

public sealed class LocalEmbeddingGeneratorTests(GoldenEmbeddingModel model) : IClassFixture<GoldenEmbeddingModel>
{
    // Pooled, normalised vectors against the float64 torch reference: absolute per dimension (values ~0.05).
    private const float Tolerance = 2e-5f;

    // Golden inputs 0, 1 and 3 as text in the synthetic vocabulary ("wN" is id N); input 3 is [CLS] [SEP], the empty string.
    private static readonly (string Text, int Golden)[] s_texts = [("w200 w300 w400", 0), ("W555", 1), ("", 3)];

    private static void AssertClose(float[] want, ReadOnlyMemory<float> got, string what)
    {
        var g = got.Span;
        Assert.Equal(want.Length, g.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(g[i] - want[i]) <= Tolerance, $"{what} dim {i}: {g[i]} vs {want[i]}");
    }

    [Fact]
    public async Task Mean_pooled_normalised_embeddings_match_the_torch_reference()
    {
        using var gen = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { Threads = 2 });
        Assert.Equal(EmbeddingPooling.Mean, gen.Pooling);
        Assert.True(gen.Normalize);
        var result = await gen.GenerateAsync(s_texts.Select(t => t.Text));
        Assert.Equal(s_texts.Length, result.Count);
        for (int i = 0; i < s_texts.Length; i++)
            AssertClose(Golden.Floats(model.Expected.GetProperty("mean_normalized")[s_texts[i].Golden]), result[i].Vector, $"text {i}");
        Assert.Equal(5 + 3 + 2, result.Usage!.InputTokenCount);
        Assert.Equal(gen.ModelId, result[0].ModelId);
    }

    [Fact]
    public async Task Cls_pooling_from_the_folder_config_matches_the_reference()
    {
        using var dir = new TempDir();
        CopyFolder(model.Dir.Path, dir.Path);
        File.WriteAllText(Path.Combine(dir.Path, "1_Pooling", "config.json"), """{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}""");
        using var gen = LocalEmbeddingGenerator.Load(dir.Path, new LocalEmbeddingOptions { Threads = 1 });
        Assert.Equal(EmbeddingPooling.Cls, gen.Pooling);
        var result = await gen.GenerateAsync(["w200 w300 w400"]);
        AssertClose(Golden.Floats(model.Expected.GetProperty("cls_normalized")[0]), result[0].Vector, "cls");
    }

    [Fact]
    public async Task Batch_size_does_not_change_results_and_order_is_kept()
    {
        var texts = Enumerable.Range(0, 7).Select(i => string.Join(' ', Enumerable.Range(200 + i, i + 1).Select(n => "w" + n))).ToArray();
        using var one = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { BatchSize = 1, Threads = 1 });
        using var many = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { BatchSize = 3, Threads = 2 });
        var a = await one.GenerateAsync(texts);
        var b = await many.GenerateAsync(texts);
        for (int i = 0; i < texts.Length; i++)
            for (int d = 0; d < a[i].Vector.Length; d++)
                Assert.True(Math.Abs(a[i].Vector.Span[d] - b[i].Vector.Span[d]) <= 1e-6f, $"text {i} dim {d}");
    }

    [Fact]
    public async Task Long_inputs_are_truncated_with_one_warning()
    {
        var warnings = new List<string>();
        using var gen = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { MaxTokens = 5, Threads = 1, Warning = warnings.Add });
        Assert.Equal(5, gen.MaxTokens);
        var longText = "w200 w300 w400 w500 w600 w700";
        var result = await gen.GenerateAsync([longText, "w200 w300 w400", longText]);
        await gen.GenerateAsync([longText]);
        Assert.Single(warnings);
        Assert.Contains("5 tokens", warnings[0]);
        Assert.Equal(result[1].Vector.ToArray(), result[0].Vector.ToArray());
        AssertClose(Golden.Floats(model.Expected.GetProperty("mean_normalized")[0]), result[0].Vector, "truncated");
    }

    [Fact]
    public async Task Query_and_passage_prefixes_are_applied_per_family()
    {
        var e5 = LocalEmbeddingOptions.ForFamily(EmbeddingFamily.E5);
        Assert.Equal(("query: ", "passage: "), (e5.QueryPrefix, e5.PassagePrefix));
        Assert.Equal("", LocalEmbeddingOptions.ForFamily(EmbeddingFamily.Bge).PassagePrefix);
        Assert.StartsWith("Represent", LocalEmbeddingOptions.ForFamily(EmbeddingFamily.Bge).QueryPrefix);

        using var plain = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { Threads = 1 });
        using var prefixed = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { Threads = 1, QueryPrefix = "w101 ", PassagePrefix = "w777 " });
        var query = await prefixed.ForQueries().GenerateAsync(["w200"]);
        var passage = await prefixed.GenerateAsync(["w200"]);
        var expected = await plain.GenerateAsync(["w101 w200", "w777 w200"]);
        Assert.Equal(expected[0].Vector.ToArray(), query[0].Vector.ToArray());
        Assert.Equal(expected[1].Vector.ToArray(), passage[0].Vector.ToArray());
    }

    [Fact]
    public void Metadata_names_the_model_and_dimensions()
    {
        using var gen = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { Threads = 1 });
        var meta = gen.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal(384, meta.DefaultModelDimensions);
        Assert.Equal(gen.ModelId, meta.DefaultModelId);
        Assert.Matches(@"^ragtune-test-[0-9a-f]+@[0-9a-f]{12}$", gen.ModelId);
        Assert.Equal(512, gen.MaxTokens);
        Assert.Same(gen, gen.GetService<LocalEmbeddingGenerator>());
    }

    [Fact]
    public async Task Empty_lists_null_inputs_and_wrong_dimensions_are_handled()
    {
        using var gen = LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { Threads = 1 });
        Assert.Empty(await gen.GenerateAsync([]));
        await Assert.ThrowsAsync<ArgumentException>(() => gen.GenerateAsync([null!]));
        await Assert.ThrowsAsync<NotSupportedException>(() => gen.GenerateAsync(["x"], new EmbeddingGenerationOptions { Dimensions = 128 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LocalEmbeddingGenerator.Load(model.Dir.Path, new LocalEmbeddingOptions { MaxTokens = 1 }));
    }

    [Fact]
    public void Bad_folders_fail_with_the_file_named()
    {
        using var dir = new TempDir();
        CopyFolder(model.Dir.Path, dir.Path);

        File.WriteAllText(Path.Combine(dir.Path, "1_Pooling", "config.json"), """{"pooling_mode_max_tokens": true}""");
        var e = Assert.Throws<EmbeddingModelException>(() => LocalEmbeddingGenerator.Load(dir.Path));
        Assert.Contains("pooling_mode_max_tokens", e.Message);
        Assert.Contains("1_Pooling", e.Message);
        using (var overridden = LocalEmbeddingGenerator.Load(dir.Path, new LocalEmbeddingOptions { Pooling = EmbeddingPooling.Mean, Threads = 1 }))
            Assert.Equal(EmbeddingPooling.Mean, overridden.Pooling);
        File.WriteAllText(Path.Combine(dir.Path, "1_Pooling", "config.json"), """{"pooling_mode_mean_tokens": true}""");

        File.Delete(Path.Combine(dir.Path, "vocab.txt"));
        Assert.Contains("vocab.txt", Assert.Throws<FileNotFoundException>(() => LocalEmbeddingGenerator.Load(dir.Path)).Message);
        File.Copy(Path.Combine(model.Dir.Path, "vocab.txt"), Path.Combine(dir.Path, "vocab.txt"));

        File.Delete(Path.Combine(dir.Path, "model.safetensors"));
        Assert.Contains("model.safetensors", Assert.Throws<FileNotFoundException>(() => LocalEmbeddingGenerator.Load(dir.Path)).Message);

        Assert.Throws<DirectoryNotFoundException>(() => LocalEmbeddingGenerator.Load(Path.Combine(dir.Path, "nope")));
    }

    [Fact]
    public async Task A_bert_gguf_file_embeds_like_the_reference()
    {
        using var dir = new TempDir();
        var tokens = Tokenizers.WordPieceTokenizer.ToGgufTokens(File.ReadAllLines(Path.Combine(model.Dir.Path, "vocab.txt")));
        var path = dir.File("random-bert.gguf");
        BertRandomWriter.WriteGguf(path, model.Config, model.Seed, Engine.Tensors.GgmlType.F32, tokens, poolingType: 1);
        using var gen = LocalEmbeddingGenerator.Load(path, new LocalEmbeddingOptions { Threads = 1 });
        Assert.StartsWith("random-bert@", gen.ModelId);
        Assert.Equal(EmbeddingPooling.Mean, gen.Pooling);
        var result = await gen.GenerateAsync(["w200 w300 w400"]);
        AssertClose(Golden.Floats(model.Expected.GetProperty("mean_normalized")[0]), result[0].Vector, "gguf");

        BertRandomWriter.WriteGguf(path, model.Config, model.Seed, Engine.Tensors.GgmlType.F32, tokens, poolingType: 4);
        Assert.Contains("pooling_type 4", Assert.Throws<EmbeddingModelException>(() => LocalEmbeddingGenerator.Load(path)).Message);
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target);
        }
    }
}
