using RagTune.Evaluation.Experiments;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class FreshnessExperimentTests
{
    private static ExperimentQuestion Q(string fact, params string[] answers) => new(fact, fact, "?", answers, false, answers.Length > 0);

    [Fact]
    public void New_values_come_from_the_same_attribute_of_other_entities()
    {
        var pools = FreshnessExperiment.ValuesByAttribute(
        [
            Q("brel.founder", "Alda Ashby"), Q("kor.founder", "Bram Colde"), Q("tam.founder", "Alda Ashby"),
            Q("brel.river", "Osk"), // one value: nothing to change it to, so no pool
            Q("none.ghost.founder"), // unanswerable: no answer to offer
            Q("plain", "42"),        // no attribute in the id
        ]);
        Assert.Equal(["founder"], pools.Keys);
        Assert.Equal(["Alda Ashby", "Bram Colde"], pools["founder"]);
    }

    [Fact]
    public void Without_a_pool_the_value_becomes_a_made_up_word_or_a_moved_number()
    {
        var rng = new Random(1);
        Assert.NotEqual("teal", FreshnessExperiment.Replacement("teal", rng));
        Assert.True(char.IsLower(FreshnessExperiment.Replacement("teal", rng)[0]));
        Assert.InRange(int.Parse(FreshnessExperiment.Replacement("10", rng), System.Globalization.CultureInfo.InvariantCulture), 11, 59);
    }
}
