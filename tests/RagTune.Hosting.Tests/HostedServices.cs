using Microsoft.Extensions.Logging.Abstractions;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Compare;
using RagTune.Hosting.Jobs;
using RagTune.Hosting.Tuning;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests;

/// <summary>The composed services over a fresh data directory, with the job queue running; all stopped on dispose.</summary>
internal sealed class HostedServices : IAsyncDisposable
{
    private readonly TempDir _dir;

    private HostedServices(TempDir dir, RagTuneOptions options)
    {
        _dir = dir;
        Options = options;
        Jobs = new JobQueue(options, NullLogger<JobQueue>.Instance);
        Collections = new CollectionService(options, Jobs);
        Tune = new TuneService(options, Jobs);
        Compare = new CompareService(options, Jobs, Collections);
    }

    public RagTuneOptions Options { get; }
    public JobQueue Jobs { get; }
    public CollectionService Collections { get; }
    public TuneService Tune { get; }
    public CompareService Compare { get; }
    public string Root => _dir.Path;
    public string DataDir => Options.ResolvedDataDirectory;

    public static async Task<HostedServices> StartAsync(Action<RagTuneOptions>? configure = null)
    {
        var dir = new TempDir();
        var options = new RagTuneOptions { DataDirectory = Path.Combine(dir.Path, "data"), TrainingThreads = 1 };
        configure?.Invoke(options);
        options.Validate();
        var services = new HostedServices(dir, options);
        await services.Jobs.StartAsync(CancellationToken.None);
        return services;
    }

    public async ValueTask DisposeAsync()
    {
        await Jobs.StopAsync(CancellationToken.None);
        Jobs.Dispose();
        Collections.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}
