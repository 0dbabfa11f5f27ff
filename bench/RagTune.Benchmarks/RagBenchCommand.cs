using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using Microsoft.Extensions.AI;
using RagTune.Evaluation.Retrieval;
using RagTune.Hosting.Stores;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Benchmarks;

/// <summary>
/// <c>ragtune bench rag</c>: BM25-only ingest speed of a BEIR corpus through the real pipeline, then query latency
/// of bm25, dense (random unit vectors inserted directly: exact search cost does not depend on what the vectors
/// mean) and hybrid over a collection of <c>--vectors</c> chunks.
/// </summary>
internal static class RagBenchCommand
{
    public static Command Create(Func<ParseResult, string?> store)
    {
        var corpus = new Option<string>("--corpus") { Description = "BEIR corpus.jsonl", DefaultValueFactory = _ => "../shared/data/beir-scifact/corpus.jsonl" };
        var vectors = new Option<int>("--vectors") { Description = "Chunks with vectors for the dense/hybrid latency", DefaultValueFactory = _ => 100_000 };
        var dims = new Option<int>("--dimensions") { Description = "Vector dimensions", DefaultValueFactory = _ => 384 };
        var queries = new Option<int>("--queries") { Description = "Queries timed per mode", DefaultValueFactory = _ => 200 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var cmd = new Command("rag", "Ingest throughput and bm25/dense/hybrid query latency of the collection store (SQLite files, or PostgreSQL with --store)") { corpus, vectors, dims, queries, json };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var result = await RunAsync(r.GetValue(corpus)!, r.GetValue(vectors), r.GetValue(dims), r.GetValue(queries), ct, store(r));
            if (r.GetValue(json)) Console.Out.WriteLine(JsonSerializer.Serialize(result, RagBenchJsonContext.Readable.RagBenchJson));
            else
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ingest (bm25 only): {result.IngestDocuments} documents, {result.IngestMiB:F1} MiB in {result.IngestSeconds:F2} s = {result.IngestDocsPerSecond:F0} docs/s, {result.IngestMiBPerSecond:F2} MiB/s ({result.IngestChunks} chunks)\n" +
                    $"bm25   over {result.IngestChunks} chunks: p50 {result.Bm25P50Ms:F2} ms, p95 {result.Bm25P95Ms:F2} ms\n" +
                    $"insert {result.Vectors} x {result.Dimensions} vectors: {result.VectorInsertSeconds:F1} s; first dense query (loads the matrix; on PostgreSQL it builds the HNSW index) {result.DenseColdMs:F0} ms\n" +
                    $"dense  over {result.Vectors} chunks: p50 {result.DenseP50Ms:F2} ms, p95 {result.DenseP95Ms:F2} ms (reference exact scan p50 {result.DenseReferenceP50Ms:F2}, p95 {result.DenseReferenceP95Ms:F2} ms; recall@10 {result.DenseRecallAt10:F4})\n" +
                    $"bm25   over {result.Vectors} chunks: p50 {result.Bm25LargeP50Ms:F2} ms, p95 {result.Bm25LargeP95Ms:F2} ms (reference p50 {result.Bm25LargeReferenceP50Ms:F2}, p95 {result.Bm25LargeReferenceP95Ms:F2} ms; recall@10 {result.Bm25LargeRecallAt10:F4})\n" +
                    $"hybrid over {result.Vectors} chunks: p50 {result.HybridP50Ms:F2} ms, p95 {result.HybridP95Ms:F2} ms (k=10, {result.Queries} queries, {Environment.ProcessorCount} cores)"));
            return 0;
        }));
        return cmd;
    }

    internal static async Task<RagBenchJson> RunAsync(string corpusPath, int vectorCount, int dims, int queryCount, CancellationToken ct, string? storeConnection = null)
    {
        if (!File.Exists(corpusPath)) throw new FileNotFoundException($"--corpus: no file at '{corpusPath}' (a BEIR corpus.jsonl).", corpusPath);
        if (vectorCount < 1 || dims < 1 || queryCount < 1) throw new UsageException("--vectors, --dimensions and --queries must be positive.");
        using var temp = new TempDataDir();
        var storeOptions = new CollectionStoreOptions { DataDirectory = temp.Path, ConnectionString = storeConnection };
        var collections = CollectionStores.Catalog(storeOptions);
        foreach (var work in new[] { "ingest", "vectors" }) collections.Delete(work); // --store: an earlier run's work collections

        // 1. Ingest through the real pipeline (read JSONL records, chunk, write), BM25 only.
        var corpus = BeirLoader.ReadCorpus(corpusPath);
        var queryTexts = corpus.Select(d => d.Title.Length > 0 ? d.Title : d.Text[..Math.Min(80, d.Text.Length)]).Take(queryCount).ToList();
        IngestSummary summary;
        var sw = Stopwatch.StartNew();
        using (var store = collections.Open("ingest", create: true))
            summary = await new IngestPipeline(store, null, new IngestOptions { Readers = ReaderOptions.Default with { IdField = "_id" } })
                .RunAsync([Path.GetFullPath(corpusPath)], null, ct);
        double ingestSeconds = sw.Elapsed.TotalSeconds;
        double mib = new FileInfo(corpusPath).Length / (1024.0 * 1024);
        int docs = summary.Added + summary.Updated;

        (double P50, double P95) bm25;
        using (var store = collections.Open("ingest", create: false))
            bm25 = await Time(queryTexts, (q, _) => store.SearchKeywordAsync(q, 10, SearchFilter.None, ct));

        // 2. Vectors: random unit vectors on chunks whose texts cycle through the corpus, written directly.
        using var large = collections.Open("vectors", create: true);
        var info = new EmbeddingInfo("random-unit", dims);
        var rng = new Random(1234);
        sw.Restart();
        const int batchSize = 2000;
        for (int start = 0; start < vectorCount; start += batchSize)
        {
            var batch = new List<DocumentWrite>(batchSize);
            for (int i = start; i < Math.Min(vectorCount, start + batchSize); i++)
            {
                var d = corpus[i % corpus.Count];
                var text = d.Text.Length > 600 ? d.Text[..600] : d.Text;
                var id = i.ToString(CultureInfo.InvariantCulture);
                batch.Add(new DocumentWrite(new SourceDocument(id, d.Id, d.Title, text, id, new Dictionary<string, string>()),
                    [new Chunk(0, text, 0, text.Length, [], text.Length / 4)], [RandomUnit(rng, dims)]));
            }
            await large.WriteBatchAsync(batch, info, ct);
        }
        double insertSeconds = sw.Elapsed.TotalSeconds;

        var queryVectors = Enumerable.Range(0, queryCount).Select(_ => RandomUnit(rng, dims)).ToList();
        sw.Restart();
        await large.SearchVectorAsync(queryVectors[0], 10, SearchFilter.None, ct);
        double cold = sw.Elapsed.TotalMilliseconds;
        // The same collection through the reference paths, timed query by query beside the fast paths (alternating
        // which goes first, so a load change hits both alike); recall@10 of the fast paths against the reference.
        using var exact = CollectionStores.Catalog(storeOptions.ReferencePaths).Open("vectors", create: false);
        var dense = await TimeAgainst(queryVectors, v => large.SearchVectorAsync(v, 10, SearchFilter.None, ct), v => exact.SearchVectorAsync(v, 10, SearchFilter.None, ct));
        var bm25Large = await TimeAgainst(queryTexts, q => large.SearchKeywordAsync(q, 10, SearchFilter.None, ct), q => exact.SearchKeywordAsync(q, 10, SearchFilter.None, ct));
        using var embedder = new RandomEmbeddingGenerator(dims, info.ModelId);
        var retriever = new Retriever(large, embedder, new RetrieverOptions());
        var hybrid = await Time(queryTexts, (q, _) => retriever.SearchAsync(q, SearchMode.Hybrid, 10, SearchFilter.None, ct));

        return new RagBenchJson(Path.GetFileName(corpusPath), docs, summary.ChunksWritten, mib, ingestSeconds, docs / ingestSeconds, mib / ingestSeconds,
            bm25.P50, bm25.P95, vectorCount, dims, insertSeconds, cold, dense.P50, dense.P95, bm25Large.P50, bm25Large.P95, hybrid.P50, hybrid.P95,
            queryCount, Environment.ProcessorCount, dense.ReferenceP50, dense.ReferenceP95, dense.Recall, bm25Large.ReferenceP50, bm25Large.ReferenceP95, bm25Large.Recall);
    }

    private static async Task<(double P50, double P95)> Time<T>(IReadOnlyList<T> inputs, Func<T, int, Task<IReadOnlyList<SearchHit>>> run)
    {
        for (int i = 0; i < Math.Min(5, inputs.Count); i++) await run(inputs[i], i); // warm-up (JIT, caches)
        var ms = new List<double>(inputs.Count);
        for (int i = 0; i < inputs.Count; i++)
        {
            var sw = Stopwatch.StartNew();
            await run(inputs[i], i);
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }
        return (RetrievalEvaluator.Percentile(ms, 0.5), RetrievalEvaluator.Percentile(ms, 0.95));
    }

    /// <summary>
    /// Times <paramref name="fast"/> and <paramref name="reference"/> on each input in turn, alternating which runs
    /// first, and measures the fast path's recall@k: the share of the reference's hits (chunk ids) it also returns.
    /// </summary>
    private static async Task<(double P50, double P95, double ReferenceP50, double ReferenceP95, double Recall)> TimeAgainst<T>(
        IReadOnlyList<T> inputs, Func<T, Task<IReadOnlyList<SearchHit>>> fast, Func<T, Task<IReadOnlyList<SearchHit>>> reference)
    {
        for (int i = 0; i < Math.Min(5, inputs.Count); i++) { await fast(inputs[i]); await reference(inputs[i]); }
        var fastMs = new List<double>(inputs.Count);
        var referenceMs = new List<double>(inputs.Count);
        long found = 0, wanted = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            IReadOnlyList<SearchHit> f, r;
            if (i % 2 == 0) { f = await Timed(fast, inputs[i], fastMs); r = await Timed(reference, inputs[i], referenceMs); }
            else { r = await Timed(reference, inputs[i], referenceMs); f = await Timed(fast, inputs[i], fastMs); }
            var ids = f.Select(h => h.Chunk.ChunkId).ToHashSet();
            found += r.Count(h => ids.Contains(h.Chunk.ChunkId));
            wanted += r.Count;
        }
        return (RetrievalEvaluator.Percentile(fastMs, 0.5), RetrievalEvaluator.Percentile(fastMs, 0.95),
            RetrievalEvaluator.Percentile(referenceMs, 0.5), RetrievalEvaluator.Percentile(referenceMs, 0.95), wanted == 0 ? 1 : (double)found / wanted);
    }

    private static async Task<IReadOnlyList<SearchHit>> Timed<T>(Func<T, Task<IReadOnlyList<SearchHit>>> run, T input, List<double> ms)
    {
        var sw = Stopwatch.StartNew();
        var hits = await run(input);
        ms.Add(sw.Elapsed.TotalMilliseconds);
        return hits;
    }

    private static float[] RandomUnit(Random rng, int dims)
    {
        var v = new float[dims];
        for (int i = 0; i < dims; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        float norm = TensorPrimitives.Norm(v);
        if (norm > 0) TensorPrimitives.Divide(v, norm, v);
        return v;
    }

    /// <summary>Random unit vectors: the cost of a query embedding without a model, for latency only.</summary>
    private sealed class RandomEmbeddingGenerator(int dims, string modelId) : IEmbeddingGenerator<string, Embedding<float>>
    {
        private readonly Random _rng = new(99);

        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(_ => new Embedding<float>(RandomUnit(_rng, dims)) { ModelId = modelId })));

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("random", null, modelId, dims) : null;

        public void Dispose() { }
    }
}

/// <summary>The <c>bench rag</c> figures.</summary>
internal sealed record RagBenchJson(string Corpus, int IngestDocuments, int IngestChunks, double IngestMiB, double IngestSeconds, double IngestDocsPerSecond,
    double IngestMiBPerSecond, double Bm25P50Ms, double Bm25P95Ms, int Vectors, int Dimensions, double VectorInsertSeconds, double DenseColdMs,
    double DenseP50Ms, double DenseP95Ms, double Bm25LargeP50Ms, double Bm25LargeP95Ms, double HybridP50Ms, double HybridP95Ms, int Queries, int Cores,
    double DenseReferenceP50Ms, double DenseReferenceP95Ms, double DenseRecallAt10, double Bm25LargeReferenceP50Ms, double Bm25LargeReferenceP95Ms, double Bm25LargeRecallAt10);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RagBenchJson))]
internal sealed partial class RagBenchJsonContext : System.Text.Json.Serialization.JsonSerializerContext
{
    private static RagBenchJsonContext? s_readable;

    /// <summary>The same contract with printable characters unescaped (<see cref="ReadableJson"/>); made on first use, after <c>Default</c>.</summary>
    public static RagBenchJsonContext Readable => s_readable ??= new(ReadableJson.Options(Default.Options));
}
