using System.Security.Cryptography;
using RagTune.Cli.Commands.Compare;
using RagTune.Evaluation.Experiments.Demo;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Cli.Tests.Compare;

public sealed class DemoModelBuilderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private DemoModelOptions Tiny => DemoModelOptions.Quick with { CacheDir = _dir.File("cache"), Threads = 2, TestWorld = new DemoWorldOptions(Villages: 12, FactsPerVillage: 1, Paraphrases: 1, Unanswerable: 2) };

    [Fact]
    public void A_tiny_budget_builds_a_loadable_model_whose_loss_fell_and_a_second_call_reuses_it()
    {
        var first = DemoModelBuilder.Build(Tiny);
        Assert.False(first.Reused);
        Assert.Equal(Tiny.CopySteps + Tiny.LookupSteps + Tiny.Steps, first.Steps);
        Assert.True(first.LastLoss < first.FirstLoss, $"loss {first.FirstLoss} -> {first.LastLoss}");
        Assert.Equal(DemoModelBuilder.PathFor(Tiny), first.Path);
        using (var model = LocalModel.Load(first.Path))
        {
            Assert.Equal(Tiny.Dim, model.Engine.Config.Dim);
            Assert.True(model.Engine.Config.VocabSize <= Tiny.VocabSize);
        }
        // Only the model is left in the cache: the corpus, base and checkpoints were working files.
        Assert.Equal([first.Path], Directory.GetFileSystemEntries(Tiny.CacheDir));

        var written = File.GetLastWriteTimeUtc(first.Path);
        var hash = SHA256.HashData(File.ReadAllBytes(first.Path));
        var second = DemoModelBuilder.Build(Tiny);
        Assert.True(second.Reused);
        Assert.Equal(first.Path, second.Path);
        Assert.Equal(written, File.GetLastWriteTimeUtc(second.Path));
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(second.Path)));
    }

    [Fact]
    public void Settings_that_change_the_weights_change_the_cache_key()
    {
        Assert.NotEqual(Tiny.Key(), (Tiny with { Steps = 7 }).Key());
        Assert.NotEqual(Tiny.Key(), (Tiny with { CopySteps = 7 }).Key());
        Assert.NotEqual(Tiny.Key(), (Tiny with { LookupSteps = 7 }).Key());
        Assert.NotEqual(Tiny.Key(), (Tiny with { LookupBatch = 7 }).Key());
        Assert.NotEqual(Tiny.Key(), (Tiny with { TestWorld = new DemoWorldOptions() }).Key());
        Assert.Equal(Tiny.Key(), (Tiny with { Threads = 1 }).Key());
    }

    [Fact]
    public void A_bad_shape_is_refused_before_any_work()
    {
        var e = Assert.Throws<ArgumentException>(() => DemoModelBuilder.Build(Tiny with { Dim = 30, Heads = 4 }));
        Assert.Contains("DemoModelOptions.Dim", e.Message);
        Assert.False(Directory.Exists(Tiny.CacheDir));
    }
}
