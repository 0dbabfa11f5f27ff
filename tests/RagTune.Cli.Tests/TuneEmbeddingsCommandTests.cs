using RagTune.Hosting.Evaluation;
using RagTune.Cli.Commands;
using RagTune.Cli.Commands.Rag;
using RagTune.Engine.Encoders;
using RagTune.Evaluation.Retrieval;
using RagTune.FineTuning.Embeddings;
using RagTune.Hosting.Stores;
using RagTune.Models.Embeddings;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;
using RagTune.TestKit;
using Xunit.Abstractions;

namespace RagTune.Cli.Tests;

/// <summary>
/// Retrieval fine-tuning on SciFact's training pairs (../shared/data/beir-scifact), from a random-weight tiny encoder
/// with the all-MiniLM-L6-v2 vocabulary. The tuned model is made once and shared by the tests of this class.
/// </summary>
[Trait("Category", "Slow")]
public sealed class TuneEmbeddingsCommandTests(TuneEmbeddingsCommandTests.SciFactTuning tuning, ITestOutputHelper output) : IClassFixture<TuneEmbeddingsCommandTests.SciFactTuning>
{
    /// <summary>The shared run: a random tiny encoder tuned on SciFact train pairs with BM25-mined hard negatives.</summary>
    public sealed class SciFactTuning : IDisposable
    {
        private readonly TempDir _dir = new();

        public SciFactTuning()
        {
            var root = SharedData.File("data", "beir-scifact");
            Data = BeirLoader.Load(Path.Combine(root, "corpus.jsonl"), Path.Combine(root, "queries.jsonl"), Path.Combine(root, "qrels", "train.tsv"));
            RandomModel = Path.Combine(_dir.Path, "random");
            RandomEmbeddingModelWriter.Write(RandomModel, BertConfig.Tiny, seed: 1, f16: false,
                vocabFile: SharedData.File("tokenizers", "all-minilm-l6-v2", "vocab.txt"));
            TunedModel = Path.Combine(_dir.Path, "tuned");
            var pairs = Bm25HardNegatives.MineAsync(BeirPairs.Build(Data), 3, CancellationToken.None).GetAwaiter().GetResult();
            // A small budget for 2 shared cores: two epochs over passages cut to 48 tokens.
            Result = EmbeddingTuner.Run(RandomModel, pairs, TunedModel, new EmbeddingTuneOptions
            {
                Epochs = 2, LearningRate = 1e-3f, BatchSize = 32, MaxTokens = 48, ValidationSplit = 0.2, HardNegatives = 1, Threads = 2,
            });
        }

        internal BeirDataset Data { get; }
        public string RandomModel { get; }
        public string TunedModel { get; }
        internal EmbeddingTuneResult Result { get; }

        public void Dispose() => _dir.Dispose();
    }

    [Fact]
    public void Tuning_a_random_encoder_on_SciFact_train_raises_validation_recall_far_above_its_start()
    {
        var r = tuning.Result;
        Assert.Equal(3, r.Curve.Count);
        Assert.True(r.BestRecall >= 2 * r.StartRecall && r.BestRecall - r.StartRecall >= 0.08,
            $"Recall@10 {r.StartRecall:F3} → {r.BestRecall:F3} (curve {string.Join(", ", r.Curve.Select(e => e.ValidationRecall.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))})");
        Assert.True(r.Curve[2].TrainLoss < r.Curve[1].TrainLoss);
    }

    // With RRF and no gate the random encoder pulled SciFact nDCG@10 from 0.70 to 0.48; the default score fusion and the
    // dense agreement gate (RetrieverOptions.DenseAgreementFloor) keep a ranking that shares nothing with BM25's top from
    // reordering it. The figures are written to the test output (docs/embeddings.md quotes them).
    [Theory]
    [InlineData("random")]
    [InlineData("tuned")]
    public async Task Hybrid_retrieval_never_scores_below_bm25_alone_by_more_than_noise_on_SciFact_train(string which)
    {
        var model = which == "random" ? tuning.RandomModel : tuning.TunedModel;
        using var embedder = LocalEmbeddingGenerator.Load(model, new LocalEmbeddingOptions { MaxTokens = 64, Threads = 2, BatchSize = 64 });
        using var temp = new TempDataDir();
        using var store = CollectionStores.Catalog(temp.Path).Open("scifact", create: true);
        await WholeDocuments.WriteAsync(store, tuning.Data.Corpus.Select(d => (d.Id, d.Title, d.Text)), embedder, CancellationToken.None);
        var retriever = new Retriever(store, embedder.ForQueries(), new RetrieverOptions());
        async Task<RetrievalReport> Eval(SearchMode mode) => await RetrievalEvaluator.EvaluateAsync(tuning.Data, mode.ToString(),
            (q, depth, ct) => retriever.SearchAsync(q, mode, depth, SearchFilter.None, ct), depth: 10);
        var bm25 = await Eval(SearchMode.Bm25);
        var hybrid = await Eval(SearchMode.Hybrid);

        // Noise: two standard errors of the mean per-query difference (paired, same queries).
        var diffs = hybrid.PerQuery.Zip(bm25.PerQuery, (h, b) => { Assert.Equal(b.QueryId, h.QueryId); return h.NdcgAt10 - b.NdcgAt10; }).ToList();
        double mean = diffs.Average();
        double se = Math.Sqrt(diffs.Sum(d => (d - mean) * (d - mean)) / (diffs.Count - 1) / diffs.Count);
        output.WriteLine($"{which}: hybrid nDCG@10 {hybrid.NdcgAt10:F4}, BM25 {bm25.NdcgAt10:F4} (Δ {mean:F4}, noise {2 * se:F4})");
        Assert.True(mean >= -2 * se, $"{which}: hybrid nDCG@10 {hybrid.NdcgAt10:F4} vs BM25 {bm25.NdcgAt10:F4} (Δ {mean:F4}, noise {2 * se:F4})");
    }

    [Fact]
    public void The_command_reports_a_bad_pairs_file_with_its_line_number()
    {
        using var dir = new TempDir();
        var pairs = dir.File("pairs.jsonl");
        File.WriteAllLines(pairs, ["""{"query": "a", "positive": "b"}""", """{"query": "c"}"""]);
        var r = CliProcess.Run(TimeSpan.FromMinutes(2), "tune-embeddings", "--model", tuning.RandomModel, "--pairs", pairs, "--out", dir.File("out"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{pairs}:2: field \"positive\" is missing", r.Stderr);
    }

    [Fact]
    public void The_command_names_a_bad_setting_by_its_flag()
    {
        using var dir = new TempDir();
        var r = CliProcess.Run(TimeSpan.FromMinutes(2), "tune-embeddings", "--model", tuning.RandomModel, "--pairs", dir.File("pairs.jsonl"), "--out", dir.File("out"), "--lr", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error: --lr 0: must be positive.", r.Stderr);
    }
}
