using Microsoft.Extensions.DependencyInjection;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Jobs;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests;

public sealed class RagTuneOptionsTests
{
    [Theory]
    [InlineData(nameof(RagTuneOptions.MaxUploadBytes), 10, "MaxUploadBytes")]
    [InlineData(nameof(RagTuneOptions.MaxConcurrentJobs), 0, "MaxConcurrentJobs")]
    [InlineData(nameof(RagTuneOptions.MaxQueuedJobs), -1, "MaxQueuedJobs")]
    [InlineData(nameof(RagTuneOptions.RetainedJobs), 0, "RetainedJobs")]
    [InlineData(nameof(RagTuneOptions.TrainingThreads), -2, "TrainingThreads")]
    [InlineData(nameof(RagTuneOptions.DenseAgreementDepth), -1, "DenseAgreementDepth")]
    public void Each_bad_setting_is_named(string property, long value, string named)
    {
        var options = new RagTuneOptions();
        var p = typeof(RagTuneOptions).GetProperty(property)!;
        p.SetValue(options, Convert.ChangeType(value, p.PropertyType, System.Globalization.CultureInfo.InvariantCulture));
        var e = Assert.Throws<RagTuneOptionsException>(options.Validate);
        Assert.Contains("RagTune:" + named, e.Message);
    }

    [Theory]
    [InlineData(nameof(RagTuneStoreOptions.HnswM), 1)]
    [InlineData(nameof(RagTuneStoreOptions.HnswEfConstruction), 10)]
    [InlineData(nameof(RagTuneStoreOptions.HnswEfSearch), 0)]
    [InlineData(nameof(RagTuneStoreOptions.SchemaPrefix), "Bad-Prefix")]
    [InlineData(nameof(RagTuneStoreOptions.ConnectionString), "Host=db;NoSuchKeyword=1")]
    public void Each_bad_postgres_store_setting_is_named(string property, object value)
    {
        var store = new RagTuneStoreOptions { ConnectionString = "postgres://ragtune@db.example/ragtune" };
        typeof(RagTuneStoreOptions).GetProperty(property)!.SetValue(store, value);
        var e = Assert.Throws<RagTuneOptionsException>(new RagTuneOptions { Store = store }.Validate);
        Assert.Contains("RagTune:Store:" + property, e.Message);
    }

    [Fact]
    public void Store_settings_reach_the_collection_store()
    {
        var o = new RagTuneOptions { Store = new() { ConnectionString = "postgres://ragtune@db.example/ragtune", SchemaPrefix = "team1", HnswM = 32, HnswEfConstruction = 128, HnswEfSearch = 200 } }.CollectionStore;
        Assert.True(o.IsPostgres);
        Assert.Equal(("team1", 32, 128, 200), (o.SchemaPrefix, o.HnswM, o.HnswEfConstruction, o.HnswEfSearch));
        Assert.False(new RagTuneOptions().CollectionStore.IsPostgres);
    }

    [Fact]
    public void A_data_directory_that_is_a_file_is_refused()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("data"), "");
        var e = Assert.Throws<RagTuneOptionsException>(new RagTuneOptions { DataDirectory = dir.File("data") }.Validate);
        Assert.Contains("--data-dir", e.Message);
    }

    [Fact]
    public void A_missing_embedding_model_is_named()
    {
        var e = Assert.Throws<RagTuneOptionsException>(new RagTuneOptions { EmbeddingModel = "/no/such/bert" }.Validate);
        Assert.Contains("RagTune:EmbeddingModel", e.Message);
    }

    [Fact]
    public void AddRagTune_validates_and_registers_the_services_with_the_queue_as_a_hosted_service()
    {
        Assert.Throws<RagTuneOptionsException>(() => new ServiceCollection().AddRagTune(new RagTuneOptions { MaxConcurrentJobs = 0 }));
        using var dir = new TempDir();
        var services = new ServiceCollection().AddLogging().AddRagTune(new RagTuneOptions { DataDirectory = dir.Path });
        using var provider = services.BuildServiceProvider();
        var queue = provider.GetRequiredService<JobQueue>();
        Assert.Same(queue, provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>().Single());
        Assert.NotNull(provider.GetRequiredService<CollectionService>());
        Assert.Equal(Path.Combine(dir.Path, "uploads"), provider.GetRequiredService<RagTuneOptions>().UploadsDirectory);
    }
}
