using System.Text.Json;
using RagTune.Rag.Answering;
using RagTune.Rag.Store;
using RagTune.TestKit;
using RagTune.TestKit.Stores;
using Xunit.Abstractions;

namespace RagTune.Rag.Sqlite.Tests;

/// <summary>
/// The check that abstains before calling the model, on real questions over a real SQLite collection: SQuAD v1.1
/// dev, half its articles ingested (one chunk per paragraph), BM25's top 3 shown. Questions about the ingested
/// half must reach the model; questions about the other half are the "not in the knowledge base" case. The figures
/// are in docs/compare.md.
/// </summary>
public sealed class AbstentionGateTests(ITestOutputHelper output)
{
    private const double Threshold = 0.2; // AnswererOptions' default

    [Fact]
    public async Task Idf_weighting_keeps_answerable_squad_questions_and_stops_more_questions_the_collection_cannot_answer()
    {
        Assert.Equal(Threshold, new AnswererOptions().AbstainThreshold);
        using var json = JsonDocument.Parse(File.ReadAllBytes(SharedData.File("data", "squad-v1.1", "dev-v1.1.json")));
        var articles = json.RootElement.GetProperty("data").EnumerateArray()
            .OrderBy(a => a.GetProperty("title").GetString(), StringComparer.Ordinal).ToList();
        using var dir = new TempDir();
        using var store = SqliteBackend.Open(dir, "squad");
        var answerable = new List<string>();
        var outside = new List<string>();
        var writes = new List<DocumentWrite>();
        for (int i = 0; i < articles.Count; i++)
        {
            int p = 0;
            foreach (var paragraph in articles[i].GetProperty("paragraphs").EnumerateArray())
            {
                var question = paragraph.GetProperty("qas")[0].GetProperty("question").GetString()!;
                if (i % 2 == 1) { outside.Add(question); continue; }
                answerable.Add(question);
                var text = paragraph.GetProperty("context").GetString()!;
                var id = $"{articles[i].GetProperty("title").GetString()}#{p++}";
                writes.Add(new DocumentWrite(StoreData.Doc(id, text, articles[i].GetProperty("title").GetString()), [new Chunk(0, text, 0, text.Length, [], text.Length / 4)], null));
            }
        }
        await store.WriteBatchAsync(writes, null);

        async Task<(double Weighted, double Plain)> AbstainShare(List<string> questions)
        {
            int weighted = 0, plain = 0;
            foreach (var q in questions)
            {
                var sources = GroundedAnswerer.Number(await store.SearchKeywordAsync(q, 3, SearchFilter.None), 3);
                var stats = await GroundedAnswerer.StatisticsAsync(store, q, CancellationToken.None);
                if (GroundedAnswerer.ShouldAbstain(q, sources, stats, Threshold)) weighted++;
                if (GroundedAnswerer.ShouldAbstain(q, sources, null, Threshold)) plain++;
            }
            return ((double)weighted / questions.Count, (double)plain / questions.Count);
        }
        var inside = await AbstainShare(answerable);
        var other = await AbstainShare(outside);
        output.WriteLine($"{writes.Count} paragraphs ingested; abstained, IDF-weighted / equal weights: answerable {inside.Weighted:P1} / {inside.Plain:P1} of {answerable.Count}, " +
            $"other articles {other.Weighted:P1} / {other.Plain:P1} of {outside.Count}");

        Assert.True(answerable.Count > 500 && outside.Count > 500);
        Assert.True(inside.Weighted <= 0.01, $"IDF-weighted gate abstained on {inside.Weighted:P1} of answerable questions");
        Assert.True(other.Weighted > other.Plain, $"IDF weighting should stop more unanswerable questions: {other.Weighted:P1} vs {other.Plain:P1}");
    }
}
