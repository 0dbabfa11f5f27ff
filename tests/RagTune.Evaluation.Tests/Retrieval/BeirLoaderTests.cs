using RagTune.Evaluation.Retrieval;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Evaluation.Tests.Retrieval;

public sealed class BeirLoaderTests
{
    private static (string Corpus, string Queries, string Qrels) Write(TempDir dir, string corpus, string queries, string qrels)
    {
        File.WriteAllText(dir.File("corpus.jsonl"), corpus);
        File.WriteAllText(dir.File("queries.jsonl"), queries);
        File.WriteAllText(dir.File("qrels.tsv"), qrels);
        return (dir.File("corpus.jsonl"), dir.File("queries.jsonl"), dir.File("qrels.tsv"));
    }

    private const string Corpus = """
        {"_id": "d1", "title": "Cats", "text": "Cats purr."}
        {"_id": "d2", "title": "", "text": "Dogs bark."}

        {"_id": 3, "text": "Numeric id, no title."}
        """;
    private const string Queries = """
        {"_id": "q1", "text": "do cats purr"}
        {"_id": "q2", "text": "unjudged"}
        {"_id": "q3", "text": "only judged irrelevant"}
        """;

    [Fact]
    public void Loads_corpus_queries_and_qrels()
    {
        using var dir = new TempDir();
        var (c, q, r) = Write(dir, Corpus, Queries, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\t3\t2\nq3\td2\t0\n");
        var ds = BeirLoader.Load(c, q, r);
        Assert.Equal([new BeirDocument("d1", "Cats", "Cats purr."), new BeirDocument("d2", "", "Dogs bark."), new BeirDocument("3", "", "Numeric id, no title.")], ds.Corpus);
        Assert.Equal(3, ds.Queries.Count);
        Assert.Equal(2, ds.Qrels["q1"]["3"]);
        Assert.Equal(["q1"], ds.JudgedQueries.Select(x => x.Id));
    }

    [Theory]
    [InlineData("corpus", "{\"_id\": \"d1\", \"text\": \"x\"}\n{\"_id\": \"d2\" \"text\": \"y\"}\n", "corpus.jsonl:2: not valid JSON")]
    [InlineData("corpus", "{\"_id\": \"d1\", \"text\": \"x\"}\n{\"_id\": \"d1\", \"text\": \"y\"}\n", "corpus.jsonl:2: duplicate _id 'd1'")]
    [InlineData("corpus", "{\"_id\": \"d1\"}\n", "corpus.jsonl:1: missing field \"text\"")]
    [InlineData("queries", "{\"_id\": \"q1\", \"text\": \"x\"}\n[1]\n", "queries.jsonl:2: expected a JSON object")]
    [InlineData("qrels", "qid\tdid\tscore\n", "qrels.tsv:1: expected the header")]
    [InlineData("qrels", "query-id\tcorpus-id\tscore\nq1\td1\n", "qrels.tsv:2: expected 3 tab-separated fields")]
    [InlineData("qrels", "query-id\tcorpus-id\tscore\nq1\td1\thigh\n", "qrels.tsv:2: score 'high' is not an integer")]
    [InlineData("qrels", "query-id\tcorpus-id\tscore\nq1\tnope\t1\n", "document 'nope' (query 'q1') is not in")]
    [InlineData("qrels", "query-id\tcorpus-id\tscore\nq9\td1\t1\n", "query 'q9' is not in")]
    public void Errors_name_the_file_and_line(string which, string content, string expected)
    {
        using var dir = new TempDir();
        var qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\n";
        var (c, q, r) = which switch
        {
            "corpus" => Write(dir, content, "{\"_id\": \"q1\", \"text\": \"x\"}", qrels),
            "queries" => Write(dir, "{\"_id\": \"d1\", \"text\": \"x\"}", content, qrels),
            _ => Write(dir, "{\"_id\": \"d1\", \"text\": \"x\"}", "{\"_id\": \"q1\", \"text\": \"x\"}", content),
        };
        var e = Assert.Throws<DatasetFormatException>(() => BeirLoader.Load(c, q, r));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task Evaluator_scores_judged_queries_and_collapses_chunks_to_documents()
    {
        var ds = new BeirDataset(
            [new("d1", "", "a"), new("d2", "", "b"), new("d3", "", "c")],
            [new("q1", "first"), new("q2", "second"), new("q3", "unjudged")],
            new Dictionary<string, IReadOnlyDictionary<string, int>>
            {
                ["q1"] = new Dictionary<string, int> { ["d1"] = 1 },
                ["q2"] = new Dictionary<string, int> { ["d3"] = 1 },
            });
        static SearchHit Hit(string doc, int rank) =>
            new(new StoredChunk(rank, doc, doc, doc, new Chunk(0, "", 0, 0, [], 0), new Dictionary<string, string>()), 1.0 / rank, rank, "fake");
        var asked = new List<string>();
        var report = await RetrievalEvaluator.EvaluateAsync(ds, "fake", (query, k, _) =>
        {
            asked.Add(query);
            IReadOnlyList<SearchHit> hits = query == "first" ? [Hit("d1", 1)] : [Hit("d2", 1), Hit("d2", 2), Hit("d3", 3)];
            return Task.FromResult(hits);
        });
        Assert.Equal(["first", "second"], asked);
        Assert.Equal(2, report.Queries);
        Assert.Equal((1 + 0.5) / 2, report.MrrAt10, 12);              // q2: d3 is the 2nd distinct document
        Assert.Equal((1 + 1 / Math.Log2(3)) / 2, report.NdcgAt10, 12);
        Assert.Equal(1, report.RecallAt10);
    }
}
