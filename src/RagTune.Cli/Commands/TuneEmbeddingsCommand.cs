using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RagTune.Cli.Commands.Rag;
using RagTune.Evaluation.Retrieval;
using RagTune.FineTuning.Embeddings;
using RagTune.Hosting.Evaluation;
using RagTune.Hosting.Stores;
using RagTune.Models.Embeddings;
using RagTune.Rag.Store;

namespace RagTune.Cli.Commands;

/// <summary>
/// <c>ragtune tune-embeddings</c>: contrastive fine-tuning of a local embedding model on (query, positive[, negative])
/// pairs, with hard negatives mined by the RAG layer's own BM25 (a temporary SQLite FTS5 collection of the passages).
/// </summary>
internal static class TuneEmbeddingsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Embedding model folder (sentence-transformers / Hugging Face layout)", Required = true };
        var pairs = new Option<string>("--pairs") { Description = "JSON lines: {\"query\", \"positive\"[, \"negative\": \"…\" or [\"…\"]]}", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the tuned model (same layout) and tune_embeddings.json", Required = true };
        var defaults = new EmbeddingTuneOptions();
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training pairs", DefaultValueFactory = _ => defaults.Epochs };
        var lr = new Option<float>("--lr") { Description = "Peak AdamW learning rate (2e-5 for a pretrained model; ~1e-3 from random weights)", DefaultValueFactory = _ => defaults.LearningRate };
        var batch = new Option<int>("--batch") { Description = "Queries per step (in-batch negatives)", DefaultValueFactory = _ => defaults.BatchSize };
        var temperature = new Option<float>("--temperature") { Description = "InfoNCE temperature", DefaultValueFactory = _ => defaults.Temperature };
        var valSplit = new Option<double>("--val-split") { Description = "Fraction of distinct queries held out for validation Recall@k", DefaultValueFactory = _ => defaults.ValidationSplit };
        var patience = new Option<int>("--patience") { Description = "Stop after this many epochs without a better Recall@k (0 = never)", DefaultValueFactory = _ => defaults.Patience };
        var hardNegatives = new Option<int>("--hard-negatives") { Description = "Hard negatives per query per step, mined by BM25 when the file has none (0 = in-batch only)", DefaultValueFactory = _ => defaults.HardNegatives };
        var recallK = new Option<int>("--recall-k") { Description = "k of the validation Recall@k", DefaultValueFactory = _ => defaults.RecallK };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Cut queries and passages to this many tokens", DefaultValueFactory = _ => defaults.MaxTokens };
        var family = new Option<EmbeddingFamily>("--family") { Description = "Prefix convention: None, E5, Bge", DefaultValueFactory = _ => EmbeddingFamily.None };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => defaults.Seed };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var cmd = new Command("tune-embeddings", "Fine-tune an embedding model on query/passage pairs (InfoNCE, BM25 hard negatives, best Recall@k checkpoint)")
        {
            model, pairs, output, epochs, lr, batch, temperature, valSplit, patience, hardNegatives, recallK, maxTokens, family, seed, threads,
        };
        // How the command line spells each setting a SettingException from EmbeddingTuneOptions may name.
        var flags = new Dictionary<string, Option>
        {
            [nameof(EmbeddingTuneOptions.Epochs)] = epochs, [nameof(EmbeddingTuneOptions.LearningRate)] = lr, [nameof(EmbeddingTuneOptions.BatchSize)] = batch,
            [nameof(EmbeddingTuneOptions.Temperature)] = temperature, [nameof(EmbeddingTuneOptions.ValidationSplit)] = valSplit,
            [nameof(EmbeddingTuneOptions.Patience)] = patience, [nameof(EmbeddingTuneOptions.HardNegatives)] = hardNegatives,
            [nameof(EmbeddingTuneOptions.RecallK)] = recallK, [nameof(EmbeddingTuneOptions.MaxTokens)] = maxTokens,
            [nameof(EmbeddingTuneOptions.Seed)] = seed, [nameof(EmbeddingTuneOptions.Threads)] = threads,
        };
        cmd.SetAction((r, ct) => SettingFlags.Guard(flags, async () =>
        {
            var prefixes = LocalEmbeddingOptions.ForFamily(r.GetValue(family));
            var options = new EmbeddingTuneOptions
            {
                Epochs = r.GetValue(epochs), LearningRate = r.GetValue(lr), BatchSize = r.GetValue(batch), Temperature = r.GetValue(temperature),
                ValidationSplit = r.GetValue(valSplit), Patience = r.GetValue(patience), HardNegatives = r.GetValue(hardNegatives),
                RecallK = r.GetValue(recallK), MaxTokens = r.GetValue(maxTokens), Seed = r.GetValue(seed), Threads = r.GetValue(threads),
                QueryPrefix = prefixes.QueryPrefix ?? "", PassagePrefix = prefixes.PassagePrefix ?? "",
            };
            options.Validate();
            var data = EmbeddingPairsReader.Read(r.GetValue(pairs)!);
            if (options.HardNegatives > 0 && data.All(p => p.Negatives.Count == 0))
            {
                Console.Error.WriteLine($"mining {options.HardNegatives * 3} BM25 hard negatives per query…");
                data = await Bm25HardNegatives.MineAsync(data, options.HardNegatives * 3, ct);
            }
            var result = EmbeddingTuner.Run(r.GetValue(model)!, data, r.GetValue(output)!, options, m => Console.Error.WriteLine(m), ct);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"validation Recall@{options.RecallK}: {result.StartRecall:F4} before, {result.BestRecall:F4} best (epoch {result.BestEpoch}); saved to {r.GetValue(output)}"));
            return 0;
        }));
        cmd.Subcommands.Add(PairsFromBeir());
        return cmd;
    }

    // ragtune tune-embeddings pairs-from-beir: one {"query", "positive"} line per relevant (query, document) of a BEIR split.
    private static Command PairsFromBeir()
    {
        var corpus = new Option<string>("--corpus") { Description = "BEIR corpus.jsonl", Required = true };
        var queries = new Option<string>("--queries") { Description = "BEIR queries.jsonl", Required = true };
        var qrels = new Option<string>("--qrels") { Description = "BEIR qrels .tsv of the split to use (e.g. qrels/train.tsv)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "pairs.jsonl to write", Required = true };
        var cmd = new Command("pairs-from-beir", "Write a pairs file from a BEIR data set's relevance judgements") { corpus, queries, qrels, output };
        cmd.SetAction((r, ct) => CliRun.Guard(() =>
        {
            var ds = BeirLoader.Load(r.GetValue(corpus)!, r.GetValue(queries)!, r.GetValue(qrels)!);
            var lines = BeirPairs.Build(ds).Select(p => JsonSerializer.Serialize(new Dictionary<string, string> { ["query"] = p.Query, ["positive"] = p.Positive }));
            File.WriteAllLines(r.GetValue(output)!, lines);
            Console.Error.WriteLine($"wrote {BeirPairs.Build(ds).Count} pairs to {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}

/// <summary>(query, relevant document) pairs of a BEIR data set; the document is its title and text as retrieval indexes it.</summary>
internal static class BeirPairs
{
    public static List<EmbeddingPair> Build(BeirDataset ds)
    {
        var docs = ds.Corpus.ToDictionary(d => d.Id, StringComparer.Ordinal);
        var pairs = new List<EmbeddingPair>();
        foreach (var q in ds.Queries)
        {
            if (!ds.Qrels.TryGetValue(q.Id, out var rels)) continue;
            foreach (var (docId, grade) in rels.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                if (grade > 0) pairs.Add(new EmbeddingPair(q.Text, Passage(docs[docId]), []));
        }
        return pairs;
    }

    public static string Passage(BeirDocument d) => d.Title.Length > 0 ? d.Title + "\n" + d.Text : d.Text;
}

/// <summary>Hard negatives from BM25: the passages the keyword index ranks highest for a query that are not its positives.</summary>
internal static class Bm25HardNegatives
{
    public static async Task<IReadOnlyList<EmbeddingPair>> MineAsync(IReadOnlyList<EmbeddingPair> pairs, int perQuery, CancellationToken ct)
    {
        var passages = pairs.Select(p => p.Positive).Concat(pairs.SelectMany(p => p.Negatives)).Distinct(StringComparer.Ordinal).ToList();
        using var temp = new TempDataDir();
        using var store = CollectionStores.Catalog(temp.Path).Open("negatives", create: true);
        await WholeDocuments.WriteAsync(store, passages.Select((t, i) => (i.ToString(CultureInfo.InvariantCulture), "", t)), null, ct);
        var positives = pairs.GroupBy(p => p.Query, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(p => p.Positive).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        var mined = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (query, own) in positives)
        {
            var hits = await store.SearchKeywordAsync(query, perQuery + own.Count, SearchFilter.None, ct);
            mined[query] = hits.Select(h => passages[int.Parse(h.Chunk.DocumentId, CultureInfo.InvariantCulture)]).Where(t => !own.Contains(t)).Take(perQuery).ToList();
        }
        return pairs.Select(p => p with { Negatives = [.. p.Negatives, .. mined[p.Query]] }).ToList();
    }
}
