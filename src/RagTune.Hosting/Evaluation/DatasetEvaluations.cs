using System.Diagnostics;
using Microsoft.Extensions.AI;
using RagTune.Evaluation.Answers;
using RagTune.Evaluation.Retrieval;
using RagTune.Hosting.Pipelines;
using RagTune.Hosting.Stores;
using RagTune.Rag.Answering;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Evaluation;

// The one composition of the standard-data evaluations (`eval retrieval`, `eval squad`): the data set is indexed as
// whole documents into a temporary work collection of the configured store, searched the way search and ask search,
// and scored. Front ends map their arguments onto the settings and format the result.

/// <summary>Settings of a retrieval evaluation on a BEIR data set (corpus, queries and qrels files).</summary>
public sealed record RetrievalEvaluationSettings
{
    /// <summary>BEIR <c>corpus.jsonl</c> (<c>_id</c>, <c>title</c>, <c>text</c>).</summary>
    public required string CorpusPath { get; init; }

    /// <summary>BEIR <c>queries.jsonl</c> (<c>_id</c>, <c>text</c>).</summary>
    public required string QueriesPath { get; init; }

    /// <summary>BEIR qrels <c>.tsv</c> (query-id, corpus-id, score).</summary>
    public required string QrelsPath { get; init; }

    /// <summary>How to search; null: hybrid when <see cref="Embedder"/> is set, else BM25.</summary>
    public SearchMode? Mode { get; init; }

    /// <summary>Chunks retrieved per query (Recall@100 needs 100).</summary>
    public int Depth { get; init; } = RetrievalEvaluator.DefaultDepth;

    /// <summary>
    /// Embeds passages (and, for a local model, queries with its query prompt); null for BM25 only. The caller owns
    /// it. Passage vectors of a local model come from the chunk-vector cache of <see cref="DataDirectory"/> when seen before.
    /// </summary>
    public IEmbeddingGenerator<string, Embedding<float>>? Embedder { get; init; }

    /// <summary>Fusion and the dense agreement gate (validated before anything is indexed).</summary>
    public RetrieverOptions Retriever { get; init; } = new();

    /// <summary>
    /// Where the work collection lives: its <c>ConnectionString</c> (PostgreSQL) and <c>TitleWeight</c> are used; SQLite
    /// work collections go to a temporary directory that is deleted afterwards.
    /// </summary>
    public CollectionStoreOptions Store { get; init; } = new();

    /// <summary>RagTune's data directory (for the chunk-vector cache); null: the default.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Checks the settings; the message names the setting.</summary>
    public void Validate()
    {
        if (Depth < 1) throw new ArgumentException($"Depth {Depth} must be at least 1.", nameof(Depth));
        if (Mode is { } mode && mode != SearchMode.Bm25 && Embedder == null)
            throw new ArgumentException($"Mode {mode} needs an Embedder.", nameof(Embedder));
        Retriever.Validate();
    }
}

/// <summary>What a retrieval evaluation measured: the report, the corpus size and the time indexing took.</summary>
public sealed record RetrievalEvaluation(string Dataset, int Documents, double IndexSeconds, double TitleWeight, RetrievalReport Report);

/// <summary>What a SQuAD evaluation measured (BM25 recall of the gold paragraph and extractive answer quality).</summary>
public sealed record SquadEvaluation(int Questions, int Paragraphs, double RecallAt1, double RecallAt5, double ExactMatch, double F1,
    double LatencyP50Ms, double LatencyP95Ms);

/// <summary>The standard-data evaluations, composed once for every front end.</summary>
public static class DatasetEvaluations
{
    /// <summary>nDCG@10, Recall@10/100, MRR@10 and latency of the configured retriever on a BEIR data set.</summary>
    public static async Task<RetrievalEvaluation> RetrievalAsync(RetrievalEvaluationSettings settings, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var ds = BeirLoader.Load(settings.CorpusPath, settings.QueriesPath, settings.QrelsPath);
        var embedder = settings.Embedder;
        // Passages and queries embed differently (query prompts).
        var queryEmbedder = embedder is RagTune.Models.Embeddings.LocalEmbeddingGenerator local ? local.ForQueries() : embedder;
        var passageEmbedder = RagParts.WithVectorCache(embedder, settings.DataDirectory, ownsInner: false);
        using var cache = ReferenceEquals(passageEmbedder, embedder) ? null : passageEmbedder; // the caller owns the embedder itself
        var mode = settings.Mode ?? (embedder != null ? SearchMode.Hybrid : SearchMode.Bm25);
        using var temp = new TempDataDir();
        // Recreate: in PostgreSQL a work collection of an earlier run may still be there.
        using var store = CollectionStores.Catalog(settings.Store with { DataDirectory = temp.Path }).Recreate("eval");
        var sw = Stopwatch.StartNew();
        await WholeDocuments.WriteAsync(store, ds.Corpus.Select(d => (d.Id, d.Title, d.Text)), passageEmbedder, ct).ConfigureAwait(false);
        double indexSeconds = sw.Elapsed.TotalSeconds;
        var retriever = new Retriever(store, queryEmbedder, settings.Retriever);
        var report = await RetrievalEvaluator.EvaluateAsync(ds, mode.ToString().ToLowerInvariant(),
            (q, depth, c) => retriever.SearchAsync(q, mode, depth, SearchFilter.None, c), settings.Depth, cancellationToken: ct).ConfigureAwait(false);
        var dataset = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(settings.CorpusPath))) ?? "";
        return new RetrievalEvaluation(dataset, ds.Corpus.Count, indexSeconds, settings.Store.TitleWeight, report);
    }

    /// <summary>
    /// SQuAD v1.1 paragraphs as the knowledge base: BM25 Recall@1/5 of each question's paragraph and the extractive
    /// answerer's exact match and F1 over its top <paramref name="sources"/> passages (<paramref name="limit"/> 0: every question).
    /// </summary>
    public static async Task<SquadEvaluation> SquadAsync(string dataPath, int limit, int sources, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfLessThan(sources, 1);
        var ds = SquadDataset.Load(dataPath);
        var questions = limit > 0 ? ds.Questions.Take(limit).ToList() : ds.Questions;
        int depth = Math.Max(5, sources);
        using var temp = new TempDataDir();
        using var store = CollectionStores.Catalog(temp.Path).Open("squad", create: true);
        await WholeDocuments.WriteAsync(store, ds.Paragraphs.Select(p => (p.Id, p.Title, p.Context)), null, ct).ConfigureAwait(false);
        var answerer = new ExtractiveAnswerer(new AnswererOptions { MaxSources = sources });
        double r1 = 0, r5 = 0, em = 0, f1 = 0;
        var latencies = new List<double>(questions.Count);
        foreach (var q in questions)
        {
            ct.ThrowIfCancellationRequested();
            var sw = Stopwatch.StartNew();
            var hits = await store.SearchKeywordAsync(q.Question, depth, SearchFilter.None, ct).ConfigureAwait(false);
            latencies.Add(sw.Elapsed.TotalMilliseconds);
            int rank = hits.Select(h => h.Chunk.DocumentId).ToList().IndexOf(q.ParagraphId) + 1;
            if (rank == 1) r1++;
            if (rank is >= 1 and <= 5) r5++;
            var prediction = answerer.ExtractShortAnswer(q.Question, hits.Take(sources).ToList())?.Text ?? "";
            em += AnswerMetrics.MaxOver(AnswerMetrics.ExactMatch, prediction, q.Answers);
            f1 += AnswerMetrics.MaxOver(AnswerMetrics.F1, prediction, q.Answers);
        }
        int n = Math.Max(1, questions.Count);
        return new SquadEvaluation(questions.Count, ds.Paragraphs.Count, r1 / n, r5 / n, em / n, f1 / n,
            RetrievalEvaluator.Percentile(latencies, 0.5), RetrievalEvaluator.Percentile(latencies, 0.95));
    }
}

/// <summary>Writes records as whole documents, one chunk each (BEIR and SQuAD score whole documents).</summary>
public static class WholeDocuments
{
    /// <summary>Writes <paramref name="docs"/> in batches, embedding title + text with <paramref name="embedder"/> when given.</summary>
    public static async Task WriteAsync(IChunkStore store, IEnumerable<(string Id, string Title, string Text)> docs,
        IEmbeddingGenerator<string, Embedding<float>>? embedder, CancellationToken ct, int batchSize = 500)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(docs);
        EmbeddingInfo? info = null;
        foreach (var batch in docs.Chunk(batchSize))
        {
            var writes = batch.Select(d => new DocumentWrite(
                new SourceDocument(d.Id, d.Id, d.Title, d.Text, d.Id, new Dictionary<string, string>()),
                [new Chunk(0, d.Text, 0, d.Text.Length, [], d.Text.Length / 4)], null)).ToList();
            if (embedder != null)
            {
                var vectors = await embedder.GenerateAsync(batch.Select(d => d.Title + "\n" + d.Text).ToList(), cancellationToken: ct).ConfigureAwait(false);
                var meta = embedder.GetService<EmbeddingGeneratorMetadata>();
                for (int i = 0; i < writes.Count; i++) writes[i] = writes[i] with { Embeddings = [vectors[i].Vector.ToArray()] };
                info ??= new EmbeddingInfo(meta?.DefaultModelId ?? vectors[0].ModelId ?? "unknown", vectors[0].Vector.Length);
            }
            await store.WriteBatchAsync(writes, info, ct).ConfigureAwait(false);
        }
    }
}
