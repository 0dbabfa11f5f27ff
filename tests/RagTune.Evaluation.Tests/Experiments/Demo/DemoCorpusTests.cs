using RagTune.Evaluation.Experiments.Demo;
using RagTune.Rag.Answering;

namespace RagTune.Evaluation.Tests.Experiments.Demo;

public sealed class DemoCorpusTests
{
    [Fact]
    public void The_corpus_names_no_entity_of_the_test_world()
    {
        var test = new DemoWorldOptions();
        var names = DemoWorld.Generate(test).Names;
        var corpus = DemoCorpus.Build(new DemoCorpusOptions(), test);
        var words = corpus.SelectMany(e => DemoCorpus.Words(e.User).Concat(DemoCorpus.Words(e.Assistant))).ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.DoesNotContain(words, names.Contains);
        // The corpus does use generated names: the check is not vacuous.
        var other = DemoWorld.Generate(new DemoWorldOptions(160, 1, 0, 0, new DemoCorpusOptions().Seed)).Names;
        Assert.True(words.Count(other.Contains) > 100);
    }

    [Fact]
    public void The_corpus_teaches_documents_closed_book_answers_and_reading_with_citations()
    {
        var corpus = DemoCorpus.Build(new DemoCorpusOptions(Villages: 8), new DemoWorldOptions());
        var grounded = corpus.Where(e => e.System == GroundedPrompt.CompactSystemMessage).ToList();
        Assert.Contains(corpus, e => e.System == null && e.User.StartsWith("Tell me what the document", StringComparison.Ordinal));
        Assert.Contains(corpus, e => e.System == null && e.User.EndsWith('?'));
        Assert.Contains(grounded, e => e.Assistant == GroundedPrompt.NoAnswer);
        // A cited answer's value is in the passage it cites.
        foreach (var e in grounded.Where(e => e.Assistant != GroundedPrompt.NoAnswer))
        {
            var n = e.Assistant[^2];
            var value = e.Assistant[..e.Assistant.LastIndexOf(" [", StringComparison.Ordinal)];
            var start = e.User.IndexOf($"<source id=\"{n}\"", StringComparison.Ordinal);
            var end = e.User.IndexOf("</source>", start, StringComparison.Ordinal);
            Assert.Contains(value, e.User[start..end], StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Grounded_prompts_show_the_configured_number_of_sources_and_each_village_is_asked_at_most_three_times(int sources)
    {
        var corpus = DemoCorpus.Build(new DemoCorpusOptions(Villages: 40, Sources: sources), new DemoWorldOptions());
        var grounded = corpus.Where(e => e.System == GroundedPrompt.CompactSystemMessage).ToList();
        Assert.All(grounded, e => Assert.Equal(sources, e.User.Split("<source id=").Length - 1));
        // Fresh villages: a fact is asked once, so only reading the passage lowers the loss.
        var asked = grounded.Select(e => e.User[(e.User.IndexOf("Question: ", StringComparison.Ordinal) + 10)..]).ToList();
        var perVillage = DemoWorld.Generate(new DemoWorldOptions(40, 1, 0, 0, new DemoCorpusOptions().Seed)).Villages
            .Select(v => asked.Count(q => q.Contains(v.Name + "?", StringComparison.Ordinal) || q.Contains(v.Name + " ", StringComparison.Ordinal)));
        Assert.All(perVillage, n => Assert.InRange(n, 0, 3));
        Assert.True(grounded.Count(e => e.Assistant != GroundedPrompt.NoAnswer) >= 80);
        Assert.Throws<ArgumentException>(() => DemoCorpus.Build(new DemoCorpusOptions(Sources: 0), new DemoWorldOptions()));
    }

    [Fact]
    public void Every_value_is_a_word_of_its_attributes_kind_and_no_village_name_is_a_value()
    {
        var world = DemoWorld.Generate(new DemoWorldOptions(200, 5, 0, 0, 99));
        var values = DemoWorld.ValueWords.ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.All(world.Villages, v =>
        {
            Assert.DoesNotContain(v.Name, values);
            Assert.All(DemoWorld.Attributes, a => Assert.All(a.Value(v).Split(' '), w => Assert.Contains(w, values)));
        });
        // Large answer spaces: 1,600 founders, 40 rivers, 30 trades; many distinct ones appear.
        Assert.True(world.Villages.Select(v => v.Founder).Distinct().Count() > 150);
        Assert.True(world.Villages.Select(v => v.River).Distinct().Count() > 30);
    }

    [Fact]
    public void The_test_worlds_seed_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => DemoCorpus.Build(new DemoCorpusOptions(Seed: 5), new DemoWorldOptions(Seed: 5)));
        Assert.Contains("seed", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
