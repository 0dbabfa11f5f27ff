using RagTune.FineTuning.Raft;

namespace RagTune.FineTuning.Tests.Raft;

public sealed class RaftSetBuilderTests
{
    private static RaftQuestion Question(int i) => new(
        $"Who founded village {i}?", [$"Founder{i}"],
        new RaftPassage($"gold{i}", $"Village {i} lies on a river. Founder{i} founded it. It trades in salt."),
        [
            new RaftPassage($"gold{i}", "same chunk id as the gold passage"),
            new RaftPassage($"near{i}", $"Village {i + 100} was founded by someone else."),
            new RaftPassage($"copy{i}", $"A second copy says Founder{i} founded village {i}."),
            new RaftPassage($"far{i}", "Rivers flow to the sea."),
            new RaftPassage($"farther{i}", "The end."),
        ]);

    [Theory]
    [InlineData(0.8, 40, 32)]
    [InlineData(0.0, 10, 0)]
    [InlineData(1.0, 10, 10)]
    [InlineData(0.5, 7, 4)]
    public void The_gold_passage_is_in_exactly_the_share_asked_for(double share, int n, int expected)
    {
        var set = RaftSetBuilder.Build(Enumerable.Range(0, n).Select(Question).ToList(), new RaftOptions { GoldShare = share, Distractors = 2 });
        Assert.Equal(n, set.Count);
        Assert.Equal(expected, set.Count(e => e.GoldIndex != null));
        Assert.All(set, e => Assert.Equal(e.GoldIndex != null, e.Passages.Any(p => p.Id.StartsWith("gold", StringComparison.Ordinal))));
    }

    [Fact]
    public void Distractors_are_the_retriever_s_best_candidates_that_neither_are_nor_contain_the_gold()
    {
        var set = RaftSetBuilder.Build([Question(3)], new RaftOptions { GoldShare = 1, Distractors = 2 });
        var e = Assert.Single(set);
        var distractors = e.Passages.Where((_, i) => i != e.GoldIndex).Select(p => p.Id).ToList();
        // gold3 (same id) and copy3 (holds the answer) are skipped; the rest keep the retriever's order.
        Assert.Equal(["near3", "far3"], distractors);
        Assert.DoesNotContain(e.Passages.Where((_, i) => i != e.GoldIndex), p => p.Text.Contains("Founder3", StringComparison.Ordinal));
    }

    [Fact]
    public void Short_answers_are_the_reference_answer_cited_or_bare()
    {
        var set = RaftSetBuilder.Build(Enumerable.Range(0, 20).Select(Question).ToList(), new RaftOptions { GoldShare = 0.5, Distractors = 2, ShortAnswers = true });
        for (int i = 0; i < set.Count; i++)
            Assert.Equal(set[i].GoldIndex is { } g ? $"Founder{i} [{g + 1}]" : $"Founder{i}", set[i].Answer);
        Assert.Contains(set, e => e.GoldIndex == null);
    }

    [Fact]
    public void Answers_quote_the_gold_sentence_and_cite_its_number()
    {
        var set = RaftSetBuilder.Build(Enumerable.Range(0, 20).Select(Question).ToList(), new RaftOptions { GoldShare = 0.5, Distractors = 2 });
        foreach (var e in set)
        {
            if (e.GoldIndex is { } g)
            {
                Assert.Equal(3, e.Passages.Count);
                var i = int.Parse(e.Question.Split(' ')[^1].TrimEnd('?'), System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal($"Founder{i} founded it. [{g + 1}]", e.Answer);
            }
            else
            {
                // Without the gold passage the example shows one more distractor and the answer is the bare fact.
                Assert.Equal(3, e.Passages.Count);
                Assert.Matches(@"^Founder\d+\.$", e.Answer);
            }
        }
        Assert.True(set.Where(e => e.GoldIndex != null).Select(e => e.GoldIndex).Distinct().Count() > 1, "the gold passage should not always sit in the same place");
    }

    [Fact]
    public void The_same_seed_gives_the_same_set()
    {
        var questions = Enumerable.Range(0, 15).Select(Question).ToList();
        var a = RaftSetBuilder.Build(questions, new RaftOptions { Seed = 9 });
        var b = RaftSetBuilder.Build(questions, new RaftOptions { Seed = 9 });
        Assert.Equal(a.Select(e => (e.GoldIndex, e.Answer, string.Join(",", e.Passages.Select(p => p.Id)))), b.Select(e => (e.GoldIndex, e.Answer, string.Join(",", e.Passages.Select(p => p.Id)))));
        Assert.Throws<ArgumentException>(() => RaftSetBuilder.Build(questions, new RaftOptions { GoldShare = 1.5 }));
    }
}
