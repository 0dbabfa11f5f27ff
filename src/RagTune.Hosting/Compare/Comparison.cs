using RagTune.Evaluation.Experiments;
using RagTune.Models.Downloads;
using RagTune.Models.Embeddings;

namespace RagTune.Hosting.Compare;

/// <summary>What a finished comparison produced: the raw run, its analysis, and the report files written.</summary>
internal sealed record ComparisonOutcome(ExperimentRun Run, ExperimentResults Results, IReadOnlyList<string> Files);

/// <summary>
/// A comparison composed from its spec: the arms' models (RagTune's engine, or an OpenAI-compatible server), the
/// embedding model, SQLite work collections inside the output folder, the runner, the analysis and the reports. The
/// one composition that <c>ragtune compare</c>, <c>ragtune demo</c> and the server's compare jobs run.
/// </summary>
internal static class Comparison
{
    /// <summary>
    /// Runs <paramref name="spec"/> and writes results.json, report.md and report.html into <paramref name="outDir"/>
    /// (work files in <c>outDir/work</c>). <paramref name="userDataDir"/> holds the existing collections a spec may
    /// name; <paramref name="remoteApiKey"/> is sent to a remote base model.
    /// </summary>
    /// <exception cref="InvalidOperationException">Nothing could be compared (no chunks, no usable generated questions).</exception>
    public static async Task<ComparisonOutcome> RunAsync(ExperimentSpec spec, string outDir, string? userDataDir, string? remoteApiKey,
        IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        outDir = Path.GetFullPath(outDir);
        var workDir = Path.Combine(outDir, "work");
        using var models = CreateModels(spec.Model, remoteApiKey);
        // One encoder serves both sides; the query view only adds the family's query prefix.
        using var embedder = spec.Retrieval.EmbedModel is { } name ? LocalEmbeddingGenerator.Load(ModelResolver.Resolve(name)) : null;
        var stores = new SqliteExperimentStores(Path.Combine(workDir, "data"), userDataDir);
        var runner = new ExperimentRunner(spec, models, stores, new ExperimentEmbedders(embedder, embedder?.ForQueries()), workDir);
        var run = await runner.RunAsync(progress, ct).ConfigureAwait(false);
        var results = ExperimentAnalyzer.Analyze(run);
        var files = ExperimentReport.WriteAll(results, outDir);
        return new ComparisonOutcome(run, results, files);
    }

    private static IArmModels CreateModels(ModelSpec model, string? apiKey) =>
        model.Remote != null
            ? new RemoteArmModels(new Uri(model.Remote), model.RemoteModel, apiKey)
            : new LocalArmModels(ModelResolver.Resolve(model.Path!), model.Threads);
}
