using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RagTune.Evaluation.Retrieval;
using RagTune.Hosting.Evaluation;
using RagTune.Hosting.Stores;
using RagTune.Rag.Retrieval;
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
            using var embedder = RagCliOptions.Embedder(r.GetValue(embedRemote), r.GetValue(embedModel));
            var settings = new RetrievalEvaluationSettings
            {
                CorpusPath = r.GetValue(corpus)!, QueriesPath = r.GetValue(queries)!, QrelsPath = r.GetValue(qrels)!,
                Mode = r.GetValue(mode), Depth = r.GetValue(k), Embedder = embedder,
                Retriever = new RetrieverOptions { DenseAgreementDepth = r.GetValue(denseAgreement), Fusion = r.GetValue(fusion) },
                Store = RagCliOptions.StoreOptions(r, null, r.GetValue(titleWeight)),
            };
            try { settings.Validate(); }
            catch (ArgumentException e) { throw new UsageException(e.ParamName switch
            {
                nameof(RetrievalEvaluationSettings.Embedder) => $"--mode {settings.Mode.ToString()!.ToLowerInvariant()} needs --embed-model <model> or --embed-remote <url>.",
                nameof(RetrievalEvaluationSettings.Depth) => "--k must be at least 1.",
                _ => "--dense-agreement must be 0 (no gate) or positive.",
            }); }
            var run = await DatasetEvaluations.RetrievalAsync(settings, ct);
            var report = run.Report;
            var result = new RetrievalEvalJson(run.Dataset, report.Retriever, run.Documents, report.Queries, report.NdcgAt10, report.RecallAt10,
                report.RecallAt100, report.MrrAt10, report.LatencyP50Ms, report.LatencyP95Ms, run.IndexSeconds, run.TitleWeight, report.PerQuery);
            if (r.GetValue(output) is { } path) File.WriteAllText(path, JsonSerializer.Serialize(result, RagJson.Readable.RetrievalEvalJson));
            if (r.GetValue(json)) { Console.Out.WriteLine(JsonSerializer.Serialize(result with { PerQuery = [] }, RagJson.Readable.RetrievalEvalJson)); return 0; }
            var table = new Table().Title(Markup.Escape($"{result.Dataset}: {result.Queries} judged queries, {result.Documents} documents, {result.Retriever}"))
                .AddColumns("nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50 ms", "p95 ms", "index s");
            table.AddRow(F(report.NdcgAt10), F(report.RecallAt10), F(report.RecallAt100), F(report.MrrAt10),
                F1(report.LatencyP50Ms), F1(report.LatencyP95Ms), F1(run.IndexSeconds));
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
            if (r.GetValue(limit) < 0 || r.GetValue(k) < 1) throw new UsageException("--limit must be 0 (all) or positive and --k at least 1.");
            var run = await DatasetEvaluations.SquadAsync(r.GetValue(data)!, r.GetValue(limit), r.GetValue(k), ct);
            var result = new SquadEvalJson(run.Questions, run.Paragraphs, run.RecallAt1, run.RecallAt5, run.ExactMatch, run.F1, run.LatencyP50Ms, run.LatencyP95Ms);
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

/// <summary>The retrieval report as JSON.</summary>
internal sealed record RetrievalEvalJson(string Dataset, string Retriever, int Documents, int Queries, double NdcgAt10, double RecallAt10,
    double RecallAt100, double MrrAt10, double LatencyP50Ms, double LatencyP95Ms, double IndexSeconds, double TitleWeight, IReadOnlyList<QueryResult> PerQuery);

/// <summary>The SQuAD report as JSON.</summary>
internal sealed record SquadEvalJson(int Questions, int Paragraphs, double RecallAt1, double RecallAt5, double ExactMatch, double F1,
    double LatencyP50Ms, double LatencyP95Ms);
