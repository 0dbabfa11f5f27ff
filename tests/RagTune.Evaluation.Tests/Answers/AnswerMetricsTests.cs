using RagTune.Evaluation.Answers;
using RagTune.TestKit;

namespace RagTune.Evaluation.Tests.Answers;

public sealed class AnswerMetricsTests
{
    [Theory]
    [InlineData("The Cat, sat!", "cat sat")]
    [InlineData("  an  Apple a day ", "apple day")]
    [InlineData("Theatre anthem", "theatre anthem")] // articles only as whole words
    [InlineData("U.S.-based", "usbased")]
    [InlineData("the", "")]
    public void Normalize_follows_the_official_script(string input, string expected) =>
        Assert.Equal(expected, AnswerMetrics.Normalize(input));

    [Fact]
    public void F1_and_exact_match_on_hand_computed_cases()
    {
        Assert.Equal(1, AnswerMetrics.F1("the Denver Broncos", "Denver Broncos"));
        Assert.Equal(1, AnswerMetrics.ExactMatch("the Denver Broncos", "Denver Broncos!"));
        // pred {denver, broncos, team} vs gold {broncos}: P = 1/3, R = 1, F1 = 0.5.
        Assert.Equal(0.5, AnswerMetrics.F1("Denver Broncos team", "Broncos"), 12);
        // Multiset overlap: pred "a b b" → {b, b}, gold {b, c}: same = 1, P = 1/2, R = 1/2.
        Assert.Equal(0.5, AnswerMetrics.F1("b b", "b c"), 12);
        Assert.Equal(0, AnswerMetrics.F1("", "Broncos"));
        Assert.Equal(0, AnswerMetrics.F1("the", "a"));   // both empty after normalisation: 0, as in v1.1
        Assert.Equal(0, AnswerMetrics.ExactMatch("Broncos", "Panthers"));
        Assert.Equal(1, AnswerMetrics.MaxOver(AnswerMetrics.F1, "Broncos", ["Panthers", "the Broncos"]));
    }

    [Fact]
    public void Squad_file_loads_paragraphs_and_questions()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("s.json"), """
            {"version": "1.1", "data": [{"title": "Super_Bowl", "paragraphs": [
              {"context": "Denver won.", "qas": [{"id": "q1", "question": "Who won?", "answers": [{"answer_start": 0, "text": "Denver"}, {"answer_start": 0, "text": "Denver"}]}]},
              {"context": "It was in Santa Clara.", "qas": []}]}]}
            """);
        var ds = SquadDataset.Load(dir.File("s.json"));
        Assert.Equal([new SquadParagraph("Super_Bowl#0", "Super Bowl", "Denver won."), new SquadParagraph("Super_Bowl#1", "Super Bowl", "It was in Santa Clara.")], ds.Paragraphs);
        var q = Assert.Single(ds.Questions);
        Assert.Equal(("q1", "Who won?", "Super_Bowl#0"), (q.Id, q.Question, q.ParagraphId));
        Assert.Equal(["Denver", "Denver"], q.Answers);
    }
}
