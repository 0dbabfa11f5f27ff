using RagTune.Models.Catalog;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Catalog;

public sealed class ModelCatalogTests
{
    private static ModelCatalog BuiltIn => ModelCatalog.Load(SharedData.Repo("catalog", "models.json"));

    [Fact]
    public void The_built_in_catalog_is_valid_and_lists_the_promised_models()
    {
        var c = BuiltIn;
        string[] expected =
        [
            "smollm2-135m-instruct", "smollm2-360m-instruct", "smollm2-1.7b-instruct", "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct",
            "llama-3.2-1b-instruct", "tinyllama-1.1b-chat", "all-minilm-l6-v2", "bge-small-en-v1.5", "ms-marco-minilm-l-6-v2",
        ];
        foreach (var name in expected) Assert.NotNull(c.Find(name));
        Assert.Equal(ModelKind.Reranker, c.Find("ms-marco-minilm-l-6-v2")!.Kind);
    }

    [Fact]
    public void Every_entry_is_complete_and_honest_about_support()
    {
        foreach (var e in BuiltIn.Entries)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Licence), e.Name);
            Assert.True(e.Parameters > 0 && e.ContextLength > 0, e.Name);
            Assert.Contains('/', e.Repo);
            if (e.Kind == ModelKind.Chat)
            {
                Assert.Equal("gguf", e.Format);
                Assert.NotNull(e.ChatTemplate);
                Assert.Contains(e.Variants, v => v.Type == "q8_0");
                Assert.Contains(e.Variants, v => v.Type == "q4_k_m");
            }
            else
            {
                var files = e.Variant(null).Files.Select(f => f.Path).ToList();
                Assert.Contains("config.json", files);
                Assert.Contains("model.safetensors", files);
                Assert.Contains("tokenizer.json", files);
            }
            foreach (var v in e.Variants)
            {
                // K-quants and byte-level BPE arrive later: only Q8_0/Q4_0 of SentencePiece llama models run today, and the
                // BERT encoder runs the two embedding models whose real weights the tests check (OnnxEncoderTests).
                if (v.Supported)
                    Assert.True((e.Name == "tinyllama-1.1b-chat" && v.Type == "q8_0") || (e.Name is "all-minilm-l6-v2" or "snowflake-arctic-embed-xs" && v.Type == "f32"),
                        $"{e.Name} {v.Type} is marked supported");
                else Assert.Null(v.SupportedSince);
                Assert.All(v.Files, f => Assert.True(f.Size != null || f.ApproxSize != null, $"{e.Name} {f.Path} has no size at all"));
            }
        }
    }

    [Fact]
    public void The_embedding_files_known_from_shared_copies_match_their_sizes_and_hashes()
    {
        var minilm = BuiltIn.Find("all-minilm-l6-v2")!.Variant(null);
        foreach (var f in minilm.Files.Where(f => f.Sha256 != null))
        {
            var local = SharedData.File("tokenizers", "all-minilm-l6-v2", f.Path);
            Assert.Equal(f.Size, new FileInfo(local).Length);
            Assert.Equal(f.Sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(local))));
        }
    }

    [Fact]
    public void Loads_by_default_from_the_checkout()
    {
        Assert.NotEmpty(ModelCatalog.LoadDefault().Entries);
    }

    [Theory]
    [InlineData("\"format\": \"ragtune-model-catalog\"", "\"format\": \"other\"", "format is 'other'")]
    [InlineData("\"version\": 1", "\"version\": 9", "version 9")]
    [InlineData("\"name\": \"smollm2-135m-instruct\"", "\"name\": \"SmolLM2 135M\"", "name must be")]
    [InlineData("\"kind\": \"reranker\"", "\"kind\": \"classifier\"", "not valid catalog JSON")]
    [InlineData("\"repo\": \"BAAI/bge-small-en-v1.5\"", "\"repo\": \"bge-small\"", "repo must be")]
    [InlineData("\"path\": \"vocab.txt\"", "\"path\": \"../vocab.txt\"", "relative path")]
    [InlineData("\"default_variant\": \"q8_0\"", "\"default_variant\": \"q2_k\"", "default_variant 'q2_k'")]
    [InlineData("\"status\": \"supported\"", "\"status\": \"supported\", \"x\": 1, \"y\": \"supported\"", null)]
    public void Invalid_catalogs_are_rejected_with_the_field_named(string find, string replace, string? message)
    {
        var json = File.ReadAllText(SharedData.Repo("catalog", "models.json"));
        Assert.Contains(find, json);
        var broken = ReplaceFirst(json, find, replace);
        if (message == null)
        {
            ModelCatalog.Parse(broken, "test.json");
            return;
        }
        var e = Assert.Throws<CatalogFormatException>(() => ModelCatalog.Parse(broken, "test.json"));
        Assert.Contains("test.json", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Duplicate_names_and_bad_hashes_are_rejected()
    {
        var json = File.ReadAllText(SharedData.Repo("catalog", "models.json"));
        var dup = ReplaceFirst(json, "\"name\": \"smollm2-360m-instruct\"", "\"name\": \"smollm2-135m-instruct\"");
        Assert.Contains("appears twice", Assert.Throws<CatalogFormatException>(() => ModelCatalog.Parse(dup, "t")).Message);
        var sha = ReplaceFirst(json, "\"sha256\": \"953f9c0d", "\"sha256\": \"XYZ");
        Assert.Contains("sha256", Assert.Throws<CatalogFormatException>(() => ModelCatalog.Parse(sha, "t")).Message);
    }

    private static string ReplaceFirst(string s, string find, string replace)
    {
        int i = s.IndexOf(find, StringComparison.Ordinal);
        return s[..i] + replace + s[(i + find.Length)..];
    }
}
