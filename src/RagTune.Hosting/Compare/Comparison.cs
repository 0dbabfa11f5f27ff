using Microsoft.Extensions.AI;
using RagTune.Evaluation.Experiments;
using RagTune.Hosting.Middleware;
using RagTune.Hosting.Stores;
using RagTune.Models.Downloads;
using RagTune.Models.Embeddings;

namespace RagTune.Hosting.Compare;

/// <summary>What a finished comparison produced: the raw run, its analysis, and the report files written.</summary>
public sealed record ComparisonOutcome(ExperimentRun Run, ExperimentResults Results, IReadOnlyList<string> Files);

/// <summary>
/// A comparison composed from its spec: the arms' models (RagTune's engine, or an OpenAI-compatible server), the
/// embedding model, SQLite work collections inside the output folder, the runner, the analysis and the reports. The
/// one composition that <c>ragtune compare</c>, <c>ragtune demo</c> and the server's compare jobs run.
/// </summary>
public static class Comparison
{
    /// <summary>
    /// Runs <paramref name="spec"/> and writes results.json, report.md and report.html into <paramref name="outDir"/>
    /// (work files in <c>outDir/work</c>). <paramref name="userDataDir"/> holds the existing collections a spec may
    /// name; <paramref name="remoteApiKey"/> is sent to a remote base model. Every model client is composed with
    /// <paramref name="clients"/> (OpenTelemetry and logging; a response cache when it names a cache directory).
    /// </summary>
    /// <exception cref="InvalidOperationException">Nothing could be compared (no chunks, no usable generated questions).</exception>
    public static async Task<ComparisonOutcome> RunAsync(ExperimentSpec spec, string outDir, string? userDataDir, string? remoteApiKey,
        IProgress<ExperimentProgress>? progress, CancellationToken ct, ClientMiddlewareOptions? clients = null)
    {
        clients ??= new ClientMiddlewareOptions();
        outDir = Path.GetFullPath(outDir);
        var workDir = Path.Combine(outDir, "work");
        using var models = CreateModels(spec.Model, remoteApiKey, clients);
        // A hybrid spec naming no encoder searches with a real one already in the model cache ('none' keeps BM25);
        // the spec is rewritten so the results record which.
        if (spec.Retrieval.EmbedModel == null && spec.Retrieval.Mode == "hybrid" && CachedEncoders.Find() is { } cached)
        {
            spec = spec with { Retrieval = spec.Retrieval with { EmbedModel = cached } };
            progress?.Report(new ExperimentProgress($"retrieval: hybrid with {cached} (found in the model cache)", 1, 1));
        }
        // One encoder serves both sides; the query view only adds the family's query prefix.
        var embedPath = spec.Retrieval.EmbedModel is { } name and not "none" ? ModelResolver.Resolve(name) : null;
        using var embedder = embedPath is null ? null : LocalEmbeddingGenerator.Load(embedPath);
        using var documents = Embeddings(embedder, embedPath, "documents", clients);
        using var queries = Embeddings(embedder?.ForQueries(), embedPath, "queries", clients);
        var stores = new CatalogExperimentStores(CollectionStores.Catalog(Path.Combine(workDir, "data")), CollectionStores.Catalog(userDataDir));
        var runner = new ExperimentRunner(spec, models, stores, new ExperimentEmbedders(documents, queries), workDir);
        var run = await runner.RunAsync(progress, ct).ConfigureAwait(false);
        var results = ExperimentAnalyzer.Analyze(run);
        var files = ExperimentReport.WriteAll(results, outDir);
        return new ComparisonOutcome(run, results, files);
    }

    private static IArmModels CreateModels(ModelSpec model, string? apiKey, ClientMiddlewareOptions clients) =>
        model.Remote != null
            ? new RemoteArmModels(new Uri(model.Remote), model.RemoteModel, apiKey, clients)
            : new LocalArmModels(ModelResolver.Resolve(model.Path!), model.Threads, clients);

    // The middleware owns nothing here: the encoder is disposed once, by its own using, after both views.
    private static IEmbeddingGenerator<string, Embedding<float>>? Embeddings(IEmbeddingGenerator<string, Embedding<float>>? inner, string? path, string side, ClientMiddlewareOptions clients) =>
        inner is null ? null : ClientMiddleware.Embeddings(new Unowned(inner), clients with { CacheKey = ["embed", LocalArmModels.Sha256(path!), side] });

    private sealed class Unowned(IEmbeddingGenerator<string, Embedding<float>> inner) : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
    {
        protected override void Dispose(bool disposing)
        {
        }
    }
}
