using System.Text.Json;
using RagTune.TestKit;

namespace RagTune.Cli.Tests.Rag;

/// <summary><c>eval retrieval</c>, <c>eval squad</c> and <c>bench rag</c> on tiny inputs, so the figure-producing commands keep working.</summary>
public sealed class EvalCommandTests
{
    [Fact]
    public void Eval_retrieval_scores_a_tiny_beir_set_and_writes_json()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("corpus.jsonl"), """
            {"_id": "d1", "title": "Penguins", "text": "Penguins are flightless birds of the southern hemisphere."}
            {"_id": "d2", "title": "Volcanoes", "text": "Magma erupts from volcanoes as lava."}
            {"_id": "d3", "title": "Coffee", "text": "Caffeine in coffee blocks adenosine receptors."}
            """);
        File.WriteAllText(dir.File("queries.jsonl"), """
            {"_id": "q1", "text": "which birds cannot fly"}
            {"_id": "q2", "text": "how does caffeine work"}
            {"_id": "q3", "text": "no judgements"}
            """);
        File.WriteAllText(dir.File("qrels.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n");
        var r = CliProcess.Run("eval", "retrieval", "--corpus", dir.File("corpus.jsonl"), "--queries", dir.File("queries.jsonl"),
            "--qrels", dir.File("qrels.tsv"), "--out", dir.File("report.json"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("nDCG@10", r.Stdout);
        using var report = JsonDocument.Parse(File.ReadAllText(dir.File("report.json")));
        Assert.Equal(2, report.RootElement.GetProperty("queries").GetInt32());
        Assert.Equal(1.0, report.RootElement.GetProperty("ndcgAt10").GetDouble(), 12);
        Assert.Equal(2, report.RootElement.GetProperty("perQuery").GetArrayLength());

        File.WriteAllText(dir.File("qrels.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\n");
        var bad = CliProcess.Run("eval", "retrieval", "--corpus", dir.File("corpus.jsonl"), "--queries", dir.File("queries.jsonl"), "--qrels", dir.File("qrels.tsv"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("qrels.tsv:2:", bad.Stderr);
    }

    [Fact]
    public void Eval_squad_reports_recall_and_answer_f1()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("squad.json"), """
            {"version": "1.1", "data": [{"title": "Denver", "paragraphs": [
              {"context": "The Denver Broncos won Super Bowl 50. The game was played in Santa Clara.", "qas": [
                {"id": "a", "question": "Where was Super Bowl 50 played?", "answers": [{"answer_start": 0, "text": "Santa Clara"}]}]},
              {"context": "Penguins live in Antarctica and eat krill.", "qas": [
                {"id": "b", "question": "What do penguins eat?", "answers": [{"answer_start": 0, "text": "krill"}]}]}]}]}
            """);
        var r = CliProcess.Run("eval", "squad", "--data", dir.File("squad.json"), "--json");
        Assert.Equal(0, r.ExitCode);
        using var json = JsonDocument.Parse(r.Stdout);
        Assert.Equal(2, json.RootElement.GetProperty("questions").GetInt32());
        Assert.Equal(1.0, json.RootElement.GetProperty("recallAt1").GetDouble());
        Assert.InRange(json.RootElement.GetProperty("f1").GetDouble(), 0.0, 1.0);
    }

    [Fact]
    public void Bench_rag_runs_small()
    {
        var r = CliProcess.Run("bench", "rag", "--corpus", SharedData.File("data", "beir-scifact", "corpus.jsonl"), "--vectors", "3000", "--queries", "5", "--json");
        Assert.Equal(0, r.ExitCode);
        using var json = JsonDocument.Parse(r.Stdout);
        Assert.Equal(5183, json.RootElement.GetProperty("ingestDocuments").GetInt32());
        Assert.Equal(3000, json.RootElement.GetProperty("vectors").GetInt32());
        Assert.True(json.RootElement.GetProperty("denseP50Ms").GetDouble() > 0);
        Assert.True(json.RootElement.GetProperty("denseReferenceP50Ms").GetDouble() > 0);
        // SQLite's fast paths return exactly the reference's hits.
        Assert.Equal(1.0, json.RootElement.GetProperty("denseRecallAt10").GetDouble());
        Assert.Equal(1.0, json.RootElement.GetProperty("bm25LargeRecallAt10").GetDouble());
    }
}
