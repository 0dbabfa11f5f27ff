using RagTune.Evaluation.Experiments;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class AnswerScorerTests
{
    private static readonly AnswerScorer Scorer = new(new AnalysisOptions(), recallK: 1);

    private static ExperimentQuestion Q(string answer, bool answerable = true, string? goldDoc = "doc3") =>
        new("q3", "f3", "What is the code of item 3?", answerable ? [answer] : [], false, answerable, goldDoc);

    private static RawAnswer A(string text, bool abstained = false, IReadOnlyList<ShownPassage>? passages = null, IReadOnlyList<string>? retrieved = null) =>
        new("q3", text, abstained, retrieved ?? [], passages ?? [], 1, 2, 3, 10, 2);

    [Fact]
    public void Answer_metrics_strip_citations_and_follow_squad()
    {
        var s = Scorer.Score(ArmNames.Base, Q("Denver Broncos"), A("the Denver Broncos [1]."));
        Assert.Equal(1, s.ExactMatch);
        Assert.Equal(1, s.F1);
        Assert.Equal(1, s.ContainsGold);
        Assert.True(s.Correct);
        Assert.False(s.Hallucinated);
        Assert.Equal(6, s.TotalMs);

        // pred {broncos, team} vs gold {denver, broncos}: P = R = 1/2, F1 = 0.5, which is CorrectF1: correct.
        var partial = Scorer.Score(ArmNames.Base, Q("Denver Broncos"), A("Broncos team"));
        Assert.Equal(0, partial.ExactMatch);
        Assert.Equal(0.5, partial.F1!.Value, 12);
        Assert.Equal(0, partial.ContainsGold);
        Assert.True(partial.Correct);

        // Contains-gold needs whole words: "Parisian" does not contain "Paris"; "in Paris, France" does.
        Assert.Equal(0, Scorer.Score(ArmNames.Base, Q("Paris"), A("Parisian")).ContainsGold);
        Assert.Equal(1, Scorer.Score(ArmNames.Base, Q("Paris"), A("It is in Paris, France.")).ContainsGold);
        Assert.True(AnswerScorer.ContainsGold("The answer is the Eiffel Tower!", ["eiffel tower"]));
    }

    [Fact]
    public void Groundedness_and_citation_precision_on_a_hand_checked_answer()
    {
        ShownPassage[] passages =
        [
            new(1, "doc3", 1, "The code of item 3 is answer3."),
            new(2, "doc9", 2, "Item 9 is stored in the north wing."),
        ];
        // Sentence 1 is supported by [1]; sentence 2 shares nothing with [2]; sentence 3 cites [7], which was never shown.
        var s = Scorer.Score(ArmNames.Rag, Q("answer3"), A("The code of item 3 is answer3 [1]. It was painted blue [2]. See the catalogue [7].", passages: passages));
        Assert.Equal(1.0 / 3, s.Groundedness!.Value, 12);
        Assert.Equal(3, s.Citations);
        Assert.True(s.CitesShownPassage);
        Assert.Equal(1.0 / 3, s.CitationPrecision!.Value, 12);

        // A citation whose passage holds the gold answer counts as precise even when the sentence is terse.
        var terse = Scorer.Score(ArmNames.Rag, Q("answer3"), A("Wrong guess [1].", passages: passages));
        Assert.Equal(0, terse.Groundedness);
        Assert.Equal(1, terse.CitationPrecision);

        // A closed-book answer has no groundedness; a citation with nothing shown is fabricated.
        var closed = Scorer.Score(ArmNames.FineTuned, Q("answer3"), A("answer3 [1]."));
        Assert.Null(closed.Groundedness);
        Assert.Equal(0, closed.CitationPrecision);
        Assert.False(closed.CitesShownPassage);
        Assert.Null(Scorer.Score(ArmNames.FineTuned, Q("answer3"), A("answer3")).CitationPrecision);
    }

    [Fact]
    public void Recall_at_k_counts_the_gold_document_within_the_top_k()
    {
        var scorer2 = new AnswerScorer(new AnalysisOptions(), recallK: 2);
        Assert.Equal(0, Scorer.Score(ArmNames.Rag, Q("x"), A("x", retrieved: ["other", "doc3"])).RecallAtK);
        Assert.Equal(1, scorer2.Score(ArmNames.Rag, Q("x"), A("x", retrieved: ["other", "doc3"])).RecallAtK);
        Assert.Equal(1, Scorer.Score(ArmNames.Rag, Q("x"), A("x", retrieved: ["doc3"])).RecallAtK);
        Assert.Null(Scorer.Score(ArmNames.Base, Q("x"), A("x")).RecallAtK);
        Assert.Null(Scorer.Score(ArmNames.Rag, Q("x", goldDoc: null), A("x", retrieved: ["doc3"])).RecallAtK);
    }

    [Fact]
    public void Abstention_and_hallucination()
    {
        // Unanswerable: abstaining is right, answering anything is a hallucination; no answer metrics.
        var abstained = Scorer.Score(ArmNames.Rag, Q("", answerable: false), A("", abstained: true));
        Assert.True(abstained.Abstained);
        Assert.False(abstained.Hallucinated);
        Assert.Null(abstained.F1);
        Assert.True(Scorer.Score(ArmNames.Base, Q("", answerable: false), A("answer9")).Hallucinated);
        // The answerer's abstention sentence counts even when the runner did not flag it.
        var byText = Scorer.Score(ArmNames.Rag, Q("", answerable: false), A("The knowledge base does not contain the answer."));
        Assert.True(byText.Abstained);
        Assert.False(byText.Hallucinated);

        // Answerable: a confident wrong answer is a hallucination; an abstention is not, but is not correct either.
        Assert.True(Scorer.Score(ArmNames.Base, Q("answer3"), A("answer4")).Hallucinated);
        var shy = Scorer.Score(ArmNames.Base, Q("answer3"), A("", abstained: true));
        Assert.False(shy.Hallucinated);
        Assert.False(shy.Correct);
        Assert.Equal(0, shy.F1);
    }
}
