using RagTune.Models.Catalog;
using RagTune.Models.Downloads;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Downloads;

public sealed class ModelResolverTests
{
    private static ModelCatalog Catalog => ModelCatalog.Load(SharedData.Repo("catalog", "models.json"));

    private static string Cache(string root, string name, string variant, string file)
    {
        var dir = Path.Combine(root, name, variant);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, file), "gguf");
        new CachedModel(name, variant, "x", "main", file, [new CachedFile(file, 4, new string('a', 64))]) { Directory = dir }.Save();
        return Path.Combine(dir, file);
    }

    [Fact]
    public void Paths_pass_through_and_names_resolve_to_cached_files()
    {
        using var tmp = new TempDir();
        var q8 = Cache(tmp.Path, "tinyllama-1.1b-chat", "q8_0", "t-q8.gguf");
        var q4 = Cache(tmp.Path, "tinyllama-1.1b-chat", "q4_k_m", "t-q4.gguf");
        var hub = Cache(tmp.Path, "owner--repo", "model-q8_0", "Model-Q8_0.gguf");
        var r = new ModelResolver(tmp.Path, Catalog);

        Assert.Equal(q8, r.ResolvePath(q8));
        Assert.Equal(q8, r.ResolvePath("tinyllama-1.1b-chat"));
        Assert.Equal(q8, r.ResolvePath("TinyLlama-1.1B-Chat"));
        Assert.Equal(q4, r.ResolvePath("tinyllama-1.1b-chat:q4_k_m"));
        Assert.Equal(hub, r.ResolvePath("owner/repo:Model-Q8_0.gguf"));
        Assert.Equal(hub, r.ResolvePath("owner/repo"));
    }

    [Fact]
    public void Unfinished_pulls_do_not_resolve_and_messages_name_the_pull_command()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(Path.Combine(tmp.Path, "smollm2-135m-instruct", "q8_0"));
        var r = new ModelResolver(tmp.Path, Catalog);
        var e = Assert.Throws<FileNotFoundException>(() => r.ResolvePath("smollm2-135m-instruct"));
        Assert.Contains("ragtune model pull smollm2-135m-instruct", e.Message);
        var typed = Assert.Throws<FileNotFoundException>(() => r.ResolvePath("smollm2-135m-instruct:q4_k_m"));
        Assert.Contains("--type q4_k_m", typed.Message);
        var unknown = Assert.Throws<FileNotFoundException>(() => r.ResolvePath("no/such/file.gguf"));
        Assert.Contains("neither a file nor a downloaded model", unknown.Message);
    }

    [Theory]
    [InlineData("a:b", "a", "b")]
    [InlineData("name", "name", null)]
    [InlineData("C:\\m.gguf", "C:\\m.gguf", null)]
    [InlineData("https://x/y.gguf", "https://x/y.gguf", null)]
    public void Splits_name_and_variant(string input, string name, string? variant) =>
        Assert.Equal((name, variant), ModelResolver.Split(input));
}
