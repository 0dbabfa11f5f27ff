using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Compare;
using RagTune.Hosting.Jobs;
using RagTune.Hosting.Tuning;

namespace RagTune.Hosting;

/// <summary>Registers the composed RagTune services.</summary>
public static class RagTuneServiceCollectionExtensions
{
    /// <summary>
    /// Validates <paramref name="options"/> and registers them with the job queue (as a hosted service, so jobs run
    /// in the background for the host's lifetime), <see cref="CollectionService"/>, <see cref="TuneService"/> and <see cref="CompareService"/>.
    /// </summary>
    /// <exception cref="RagTuneOptionsException">A setting is invalid.</exception>
    public static IServiceCollection AddRagTune(this IServiceCollection services, RagTuneOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.AddSingleton(options);
        services.AddSingleton<JobQueue>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<JobQueue>());
        services.AddSingleton<CollectionService>();
        services.AddSingleton<TuneService>();
        services.AddSingleton<RememberedAdapters>();
        services.AddSingleton<CompareService>();
        return services;
    }
}
