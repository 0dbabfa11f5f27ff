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

    [Fact]
    public void The_test_worlds_seed_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => DemoCorpus.Build(new DemoCorpusOptions(Seed: 5), new DemoWorldOptions(Seed: 5)));
        Assert.Contains("seed", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
