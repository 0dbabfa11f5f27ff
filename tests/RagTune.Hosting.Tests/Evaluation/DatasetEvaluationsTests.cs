using RagTune.Hosting.Evaluation;
using RagTune.Hosting.Stores;
using RagTune.Rag.Retrieval;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Evaluation;

/// <summary>The standard-data evaluations composed in Hosting: a hand-made BEIR set whose answers are known.</summary>
public sealed class DatasetEvaluationsTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    // Three documents; q1 names d2's words, q2 names d3's, q3 has no judgement (BEIR scores judged queries only).
    private RetrievalEvaluationSettings Beir()
    {
        File.WriteAllLines(_dir.File("corpus.jsonl"),
        [
            """{"_id":"d1","title":"Mills","text":"The old mill grinds wheat by the river."}""",
            """{"_id":"d2","title":"Bees","text":"Honey bees keep hives in the orchard near the chapel."}""",
            """{"_id":"d3","title":"Boats","text":"Fishing boats leave the harbour before dawn."}""",
        ]);
        File.WriteAllLines(_dir.File("queries.jsonl"),
        [
            """{"_id":"q1","text":"where do honey bees keep hives"}""",
            """{"_id":"q2","text":"when do fishing boats leave the harbour"}""",
            """{"_id":"q3","text":"mill"}""",
        ]);
        File.WriteAllLines(_dir.File("qrels.tsv"), ["query-id\tcorpus-id\tscore", "q1\td2\t1", "q2\td3\t1"]);
        return new RetrievalEvaluationSettings
        {
            CorpusPath = _dir.File("corpus.jsonl"), QueriesPath = _dir.File("queries.jsonl"), QrelsPath = _dir.File("qrels.tsv"),
            DataDirectory = _dir.File("data"),
        };
    }

    [Fact]
    public async Task Bm25_on_a_set_whose_answers_are_known_scores_every_judged_query_perfectly()
    {
        var run = await DatasetEvaluations.RetrievalAsync(Beir());
        Assert.Equal(3, run.Documents);
        Assert.Equal(2, run.Report.Queries);
        Assert.Equal("bm25", run.Report.Retriever);
        Assert.Equal(1.0, run.Report.NdcgAt10, 6);
        Assert.Equal(1.0, run.Report.MrrAt10, 6);
        Assert.Equal(["d2", "d3"], run.Report.PerQuery.Select(q => q.Retrieved[0].Id));
        Assert.Equal(new CollectionStoreOptions().TitleWeight, run.TitleWeight);
    }

    [Fact]
    public async Task Settings_that_cannot_run_are_refused_by_name_before_anything_is_read()
    {
        var settings = Beir() with { CorpusPath = _dir.File("missing.jsonl") };
        Assert.Equal(nameof(RetrievalEvaluationSettings.Embedder),
            (await Assert.ThrowsAsync<ArgumentException>(() => DatasetEvaluations.RetrievalAsync(settings with { Mode = SearchMode.Dense }))).ParamName);
        Assert.Equal(nameof(RetrievalEvaluationSettings.Depth),
            (await Assert.ThrowsAsync<ArgumentException>(() => DatasetEvaluations.RetrievalAsync(settings with { Depth = 0 }))).ParamName);
        await Assert.ThrowsAnyAsync<IOException>(() => DatasetEvaluations.RetrievalAsync(settings));
    }
}
