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
        var other = DemoWorld.Generate(new DemoWorldOptions(new DemoCorpusOptions().Villages, 1, 0, 0, new DemoCorpusOptions().Seed)).Names;
        Assert.True(words.Count(other.Contains) > 100);
    }

    [Fact]
    public void The_corpus_teaches_documents_closed_book_answers_and_reading_with_citations()
    {
        var corpus = DemoCorpus.Build(new DemoCorpusOptions(Villages: 100), new DemoWorldOptions());
        var grounded = corpus.Where(e => e.System == GroundedPrompt.CompactSystemMessage).ToList();
        Assert.Contains(corpus, e => e.System == null && e.User.StartsWith("Tell me what the document", StringComparison.Ordinal));
        Assert.Contains(corpus, e => e.System == null && e.User.EndsWith('?'));
        Assert.Contains(grounded, e => e.Turns.Any(t => t.Assistant == GroundedPrompt.NoAnswer));
        foreach (var e in grounded)
        {
            Assert.StartsWith("Sources:", e.User, StringComparison.Ordinal);
            foreach (var (user, answer) in e.Turns)
            {
                var village = AskedVillage(user);
                if (answer == GroundedPrompt.NoAnswer)
                {
                    // Abstention is taught only where no source is about the village asked.
                    Assert.DoesNotContain($"title=\"{village}\"", e.User, StringComparison.Ordinal);
                    continue;
                }
                // A cited answer's value is in the passage it cites, and that passage is about the village asked.
                var n = answer[^2];
                var value = answer[..answer.LastIndexOf(" [", StringComparison.Ordinal)];
                var start = e.User.IndexOf($"<source id=\"{n}\" title=\"{village}\"", StringComparison.Ordinal);
                Assert.True(start >= 0, $"[{n}] is not the source about {village}");
                var end = e.User.IndexOf("</source>", start, StringComparison.Ordinal);
                Assert.Contains(value, e.User[start..end], StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Reading_dominates_and_no_village_is_asked_often_enough_to_be_remembered()
    {
        var corpus = DemoCorpus.Build(new DemoCorpusOptions(Villages: 400), new DemoWorldOptions());
        var reading = corpus.Where(e => e.More != null).ToList();
        Assert.True(reading.Count * 10 >= corpus.Count * 6, $"{reading.Count} of {corpus.Count} examples read sources");
        var answers = reading.SelectMany(e => e.Turns).Where(t => t.Assistant != GroundedPrompt.NoAnswer).ToList();
        Assert.True(answers.Count >= reading.Count * 5, $"{answers.Count} answers in {reading.Count} reading examples");
        // The source asked about is first or second at random, so the citation cannot be guessed from the position.
        var second = answers.Count(t => t.Assistant.EndsWith("[2]", StringComparison.Ordinal));
        Assert.InRange(second, answers.Count * 4 / 10, answers.Count * 6 / 10);
        // A village's facts are shown in a few examples only (as the gold source once, as a distractor now and then).
        var examplesPerVillage = reading.SelectMany(e => e.Turns.Select(t => AskedVillage(t.User)).Distinct()).GroupBy(v => v).Select(g => g.Count()).ToList();
        Assert.True(examplesPerVillage.Average() < 2.5, $"a village is asked about in {examplesPerVillage.Average():F1} examples on average");
        Assert.True(examplesPerVillage.Max() <= 8, $"a village is asked about in {examplesPerVillage.Max()} examples");
    }

    // The village a grounded prompt's question asks about, found by matching the question against every wording.
    private static string AskedVillage(string user)
    {
        var start = user.IndexOf("Question: ", StringComparison.Ordinal) + "Question: ".Length;
        var question = user[start..user.IndexOf('\n', start)];
        foreach (var wording in DemoWorld.Attributes.SelectMany(a => a.Questions))
        {
            var parts = wording.Split("{0}");
            if (question.StartsWith(parts[0], StringComparison.Ordinal) && question.EndsWith(parts[1], StringComparison.Ordinal))
                return question[parts[0].Length..^parts[1].Length];
        }
        throw new InvalidOperationException($"no wording matches '{question}'");
    }

    [Fact]
    public void The_test_worlds_seed_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => DemoCorpus.Build(new DemoCorpusOptions(Seed: 5), new DemoWorldOptions(Seed: 5)));
        Assert.Contains("seed", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
