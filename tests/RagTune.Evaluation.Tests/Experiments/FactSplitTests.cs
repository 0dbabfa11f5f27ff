using RagTune.Evaluation.Experiments;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class FactSplitTests
{
    private static List<ExperimentQuestion> Questions(int facts, int wordings) =>
        Enumerable.Range(0, facts).SelectMany(f => Enumerable.Range(0, wordings).Select(w =>
            new ExperimentQuestion($"f{f}.w{w}", $"f{f}", $"question {f} wording {w}", [$"a{f}"], IsParaphrase: w > 0))).ToList();

    [Fact]
    public void No_fact_straddles_the_split_and_the_share_is_of_facts()
    {
        var questions = Questions(20, 3);
        var (train, test) = FactSplit.Split(questions, 0.3, 42);
        var trainFacts = train.Select(q => q.FactId).ToHashSet();
        var testFacts = test.Select(q => q.FactId).ToHashSet();
        Assert.Empty(trainFacts.Intersect(testFacts));
        Assert.Equal(6, testFacts.Count);
        Assert.Equal(14, trainFacts.Count);
        Assert.Equal(60, train.Count + test.Count);
        Assert.All(testFacts, f => Assert.Equal(3, test.Count(q => q.FactId == f)));
    }

    [Fact]
    public void The_split_depends_on_the_seed_and_not_on_file_order()
    {
        var questions = Questions(30, 2);
        var a = FactSplit.Split(questions, 0.3, 1).Test.Select(q => q.FactId).ToHashSet();
        var shuffled = questions.AsEnumerable().Reverse().ToList();
        var b = FactSplit.Split(shuffled, 0.3, 1).Test.Select(q => q.FactId).ToHashSet();
        var c = FactSplit.Split(questions, 0.3, 2).Test.Select(q => q.FactId).ToHashSet();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Both_sides_get_at_least_one_fact()
    {
        var (train, test) = FactSplit.Split(Questions(2, 2), 0.01, 3);
        Assert.Equal(2, test.Count);
        Assert.Equal(2, train.Count);
        Assert.Throws<ArgumentException>(() => FactSplit.Split(Questions(1, 3), 0.3, 3));
    }
}
