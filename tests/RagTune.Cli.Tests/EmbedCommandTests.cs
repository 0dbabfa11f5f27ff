using System.Text.Json;
using RagTune.Models.Embeddings;
using RagTune.TestKit;

namespace RagTune.Cli.Tests;

/// <summary><c>ragtune embed create-random --cross-encoder</c>, <c>ragtune bench embed</c> and <c>collections reembed</c>, end to end.</summary>
public sealed class EmbedCommandTests
{
    [Fact]
    public async Task Create_random_cross_encoder_writes_a_classification_head_that_reranks()
    {
        using var dir = new TempDir();
        var folder = dir.File("ce");
        var r = CliProcess.Run("embed", "create-random", "--preset", "tiny", "--cross-encoder", "--seed", "3", "--out", folder);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("classification head", r.Stderr);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json"))))
            Assert.Equal("BertForSequenceClassification", config.RootElement.GetProperty("architectures")[0].GetString());
        using var scorer = LocalCrossEncoder.Load(folder, threads: 1);
        var scores = await scorer.ScoreAsync("w200 w300", ["w200 w300 w400", "w999 w1000"]);
        Assert.Equal(2, scores.Length);
        Assert.NotEqual(scores[0], scores[1]);

        // A plain embedding folder has no head, and the reranker says so.
        var plain = dir.File("plain");
        Assert.Equal(0, CliProcess.Run("embed", "create-random", "--preset", "tiny", "--out", plain).ExitCode);
        Assert.ThrowsAny<Exception>(() => LocalCrossEncoder.Load(plain, threads: 1));
    }

    [Fact]
    public void Bench_embed_reports_passages_per_second_and_query_latency()
    {
        using var dir = new TempDir();
        var folder = dir.File("m");
        Assert.Equal(0, CliProcess.Run("embed", "create-random", "--preset", "tiny", "--out", folder).ExitCode);
        var r = CliProcess.Run(TimeSpan.FromMinutes(5), "bench", "embed", "--model", folder, "--batch", "4", "--tokens", "32", "--runs", "1", "--threads", "1", "--no-torch", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var ours = doc.RootElement.GetProperty("ragtune");
        Assert.True(ours.GetProperty("passages_per_second").GetDouble() > 0);
        Assert.True(ours.GetProperty("query_ms").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("torch").ValueKind);
        Assert.Equal(2, CliProcess.Run("bench", "embed", "--model", folder, "--tokens", "2", "--no-torch").ExitCode);
        Assert.Equal(2, CliProcess.Run("bench", "embed", "--model", folder, "--torch-processes", "0").ExitCode);
    }

    [Fact]
    public void Collections_reembed_switches_a_collection_to_another_model()
    {
        using var dir = new TempDir();
        var docs = Directory.CreateDirectory(dir.File("docs")).FullName;
        File.WriteAllText(Path.Combine(docs, "a.md"), "# Alpha\n\nw200 w201 w202 about the alpha topic.");
        File.WriteAllText(Path.Combine(docs, "b.md"), "# Beta\n\nw300 w301 w302 about the beta topic.");
        string a = dir.File("model-a"), b = dir.File("model-b"), data = dir.File("data");
        Assert.Equal(0, CliProcess.Run("embed", "create-random", "--preset", "tiny", "--seed", "1", "--out", a).ExitCode);
        Assert.Equal(0, CliProcess.Run("embed", "create-random", "--preset", "tiny", "--seed", "2", "--out", b).ExitCode);
        var ingest = CliProcess.Run("ingest", docs, "--collection", "kb", "--data-dir", data, "--embed-model", a);
        Assert.True(ingest.ExitCode == 0, ingest.Stderr);

        var refused = CliProcess.Run("search", "alpha", "--collection", "kb", "--data-dir", data, "--embed-model", b, "--mode", "dense");
        Assert.NotEqual(0, refused.ExitCode);
        var re = CliProcess.Run("collections", "reembed", "--collection", "kb", "--data-dir", data, "--embed-model", b, "--batch-size", "1");
        Assert.True(re.ExitCode == 0, re.Stderr);
        Assert.Contains("model-b@", re.Stdout);
        var search = CliProcess.Run("search", "alpha", "--collection", "kb", "--data-dir", data, "--embed-model", b, "--mode", "dense");
        Assert.True(search.ExitCode == 0, search.Stderr);
        Assert.NotEqual(0, CliProcess.Run("search", "alpha", "--collection", "kb", "--data-dir", data, "--embed-model", a, "--mode", "dense").ExitCode);
    }
}
