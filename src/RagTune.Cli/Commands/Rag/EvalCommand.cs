using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;
using RagTune.Evaluation.Answers;
using RagTune.Evaluation.Retrieval;
using RagTune.Hosting.Stores;
using RagTune.Rag.Answering;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;
using Spectre.Console;

namespace RagTune.Cli.Commands.Rag;

/// <summary><c>ragtune eval retrieval|squad</c>: retrieval and extractive-QA figures on standard data sets.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var cmd = new Command("eval", "Measure retrieval and answer quality on labelled data");
        cmd.Subcommands.Add(Retrieval());
        cmd.Subcommands.Add(Squad());
        return cmd;
    }

    private static Command Retrieval()
    {
        var corpus = new Option<string>("--corpus") { Description = "BEIR corpus.jsonl (_id, title, text)", Required = true };
        var queries = new Option<string>("--queries") { Description = "BEIR queries.jsonl (_id, text)", Required = true };
        var qrels = new Option<string>("--qrels") { Description = "BEIR qrels .tsv (query-id, corpus-id, score)", Required = true };
        var mode = RagCliOptions.Mode();
        var k = new Option<int>("--k", "-k") { Description = "Chunks retrieved per query (Recall@100 needs 100)", DefaultValueFactory = _ => RetrievalEvaluator.DefaultDepth };
        var titleWeight = new Option<double>("--title-weight") { Description = "BM25 weight of the title field relative to the text", DefaultValueFactory = _ => new CollectionStoreOptions().TitleWeight };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of a table" };
        var output = new Option<string?>("--out", "-o") { Description = "Also write the report (with per-query figures) as JSON to this file" };
        var embedRemote = RagCliOptions.EmbedRemote();
        var embedModel = RagCliOptions.EmbedModel();
        var denseAgreement = RagCliOptions.DenseAgreement();
        var fusion = RagCliOptions.Fusion();
        var cmd = new Command("retrieval", "nDCG@10, Recall@10/100 and MRR@10 of a BEIR data set, indexed into a temporary collection")
        {
            corpus, queries, qrels, mode, k, titleWeight, json, output, embedRemote, embedModel, denseAgreement, fusion,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var ds = BeirLoader.Load(r.GetValue(corpus)!, r.GetValue(queries)!, r.GetValue(qrels)!);
            // Passages and queries embed differently (query prompts); passage vectors come from the chunk-vector cache when seen before.
            var embedder = RagCliOptions.Embedder(r.GetValue(embedRemote), r.GetValue(embedModel));
            using var _ = embedder;
            var queryEmbedder = embedder is RagTune.Models.Embeddings.LocalEmbeddingGenerator local ? local.ForQueries() : embedder;
            using var passageEmbedder = RagTune.Hosting.Pipelines.RagParts.WithVectorCache(embedder, null);
            var searchMode = r.GetValue(mode) ?? (embedder != null ? SearchMode.Hybrid : SearchMode.Bm25);
            if (searchMode != SearchMode.Bm25 && embedder == null) throw new UsageException($"--mode {searchMode.ToString().ToLowerInvariant()} needs --embed-model <model> or --embed-remote <url>.");
            using var temp = new TempDataDir();
            // Recreate: under --store a work collection of an earlier run may still be there.
            using var store = CollectionStores.Catalog(RagCliOptions.StoreOptions(r, temp.Path, r.GetValue(titleWeight))).Recreate("eval");
            var sw = Stopwatch.StartNew();
            await WholeDocuments.WriteAsync(store, ds.Corpus.Select(d => (d.Id, d.Title, d.Text)), passageEmbedder, ct);
            double indexSeconds = sw.Elapsed.TotalSeconds;
            var retrieverOptions = new RetrieverOptions { DenseAgreementDepth = r.GetValue(denseAgreement), Fusion = r.GetValue(fusion) };
            try { retrieverOptions.Validate(); }
            catch (ArgumentException) { throw new UsageException("--dense-agreement must be 0 (no gate) or positive."); }
            var retriever = new Retriever(store, queryEmbedder, retrieverOptions);
            var report = await RetrievalEvaluator.EvaluateAsync(ds, searchMode.ToString().ToLowerInvariant(),
                (q, depth, c) => retriever.SearchAsync(q, searchMode, depth, SearchFilter.None, c), r.GetValue(k), cancellationToken: ct);
            var result = new RetrievalEvalJson(Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(r.GetValue(corpus)!))) ?? "", report.Retriever,
                ds.Corpus.Count, report.Queries, report.NdcgAt10, report.RecallAt10, report.RecallAt100, report.MrrAt10,
                report.LatencyP50Ms, report.LatencyP95Ms, indexSeconds, r.GetValue(titleWeight), report.PerQuery);
            if (r.GetValue(output) is { } path) File.WriteAllText(path, JsonSerializer.Serialize(result, RagJson.Readable.RetrievalEvalJson));
            if (r.GetValue(json)) { Console.Out.WriteLine(JsonSerializer.Serialize(result with { PerQuery = [] }, RagJson.Readable.RetrievalEvalJson)); return 0; }
            var table = new Table().Title(Markup.Escape($"{result.Dataset}: {result.Queries} judged queries, {result.Documents} documents, {result.Retriever}"))
                .AddColumns("nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50 ms", "p95 ms", "index s");
            table.AddRow(F(report.NdcgAt10), F(report.RecallAt10), F(report.RecallAt100), F(report.MrrAt10),
                F1(report.LatencyP50Ms), F1(report.LatencyP95Ms), F1(indexSeconds));
            RagConsole.Out.Write(table);
            return 0;
        }));
        return cmd;
    }

    private static Command Squad()
    {
        var data = new Option<string>("--data") { Description = "SQuAD v1.1 JSON (e.g. dev-v1.1.json)", Required = true };
        var limit = new Option<int>("--limit") { Description = "Evaluate only the first N questions (0 = all)" };
        var k = new Option<int>("--k", "-k") { Description = "Passages given to the extractive answerer", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of a table" };
        var output = new Option<string?>("--out", "-o") { Description = "Also write the report as JSON to this file" };
        var cmd = new Command("squad", "SQuAD paragraphs as the knowledge base: BM25 Recall@1/5 of the gold paragraph and extractive-answer EM/F1")
        {
            data, limit, k, json, output,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var ds = SquadDataset.Load(r.GetValue(data)!);
            var questions = r.GetValue(limit) > 0 ? ds.Questions.Take(r.GetValue(limit)).ToList() : ds.Questions;
            int depth = Math.Max(5, r.GetValue(k));
            using var temp = new TempDataDir();
            using var store = CollectionStores.Catalog(temp.Path).Open("squad", create: true);
            await WholeDocuments.WriteAsync(store, ds.Paragraphs.Select(p => (p.Id, p.Title, p.Context)), null, ct);
            var answerer = new ExtractiveAnswerer(new AnswererOptions { MaxSources = r.GetValue(k) });
            double r1 = 0, r5 = 0, em = 0, f1 = 0;
            var latencies = new List<double>(questions.Count);
            foreach (var q in questions)
            {
                ct.ThrowIfCancellationRequested();
                var sw = Stopwatch.StartNew();
                var hits = await store.SearchKeywordAsync(q.Question, depth, SearchFilter.None, ct);
                latencies.Add(sw.Elapsed.TotalMilliseconds);
                int rank = hits.Select(h => h.Chunk.DocumentId).ToList().IndexOf(q.ParagraphId) + 1;
                if (rank == 1) r1++;
                if (rank is >= 1 and <= 5) r5++;
                var prediction = answerer.ExtractShortAnswer(q.Question, hits.Take(r.GetValue(k)).ToList())?.Text ?? "";
                em += AnswerMetrics.MaxOver(AnswerMetrics.ExactMatch, prediction, q.Answers);
                f1 += AnswerMetrics.MaxOver(AnswerMetrics.F1, prediction, q.Answers);
            }
            int n = Math.Max(1, questions.Count);
            var result = new SquadEvalJson(questions.Count, ds.Paragraphs.Count, r1 / n, r5 / n, em / n, f1 / n,
                RetrievalEvaluator.Percentile(latencies, 0.5), RetrievalEvaluator.Percentile(latencies, 0.95));
            if (r.GetValue(output) is { } path) File.WriteAllText(path, JsonSerializer.Serialize(result, RagJson.Readable.SquadEvalJson));
            if (r.GetValue(json)) { Console.Out.WriteLine(JsonSerializer.Serialize(result, RagJson.Readable.SquadEvalJson)); return 0; }
            var table = new Table().Title($"SQuAD: {result.Questions} questions over {result.Paragraphs} paragraphs, BM25 + extractive answers")
                .AddColumns("Recall@1", "Recall@5", "EM", "F1", "p50 ms", "p95 ms");
            table.AddRow(F(result.RecallAt1), F(result.RecallAt5), F(result.ExactMatch), F(result.F1), F1(result.LatencyP50Ms), F1(result.LatencyP95Ms));
            RagConsole.Out.Write(table);
            return 0;
        }));
        return cmd;
    }

    private static string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
    private static string F1(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
}

/// <summary>Writes records as whole documents, one chunk each (BEIR and SQuAD score whole documents).</summary>
internal static class WholeDocuments
{
    public static async Task WriteAsync(IChunkStore store, IEnumerable<(string Id, string Title, string Text)> docs,
        IEmbeddingGenerator<string, Embedding<float>>? embedder, CancellationToken ct, int batchSize = 500)
    {
        EmbeddingInfo? info = null;
        foreach (var batch in docs.Chunk(batchSize))
        {
            var writes = batch.Select(d => new DocumentWrite(
                new SourceDocument(d.Id, d.Id, d.Title, d.Text, d.Id, new Dictionary<string, string>()),
                [new Chunk(0, d.Text, 0, d.Text.Length, [], d.Text.Length / 4)], null)).ToList();
            if (embedder != null)
            {
                var vectors = await embedder.GenerateAsync(batch.Select(d => d.Title + "\n" + d.Text).ToList(), cancellationToken: ct);
                var meta = embedder.GetService<EmbeddingGeneratorMetadata>();
                for (int i = 0; i < writes.Count; i++) writes[i] = writes[i] with { Embeddings = [vectors[i].Vector.ToArray()] };
                info ??= new EmbeddingInfo(meta?.DefaultModelId ?? vectors[0].ModelId ?? "unknown", vectors[0].Vector.Length);
            }
            await store.WriteBatchAsync(writes, info, ct);
        }
    }
}

/// <summary>The retrieval report as JSON.</summary>
internal sealed record RetrievalEvalJson(string Dataset, string Retriever, int Documents, int Queries, double NdcgAt10, double RecallAt10,
    double RecallAt100, double MrrAt10, double LatencyP50Ms, double LatencyP95Ms, double IndexSeconds, double TitleWeight, IReadOnlyList<QueryResult> PerQuery);

/// <summary>The SQuAD report as JSON.</summary>
internal sealed record SquadEvalJson(int Questions, int Paragraphs, double RecallAt1, double RecallAt5, double ExactMatch, double F1,
    double LatencyP50Ms, double LatencyP95Ms);
