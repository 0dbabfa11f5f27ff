using RagTune.Evaluation.Experiments.Demo;

namespace RagTune.Evaluation.Tests.Experiments.Demo;

public sealed class DemoCurriculumTests
{
    [Fact]
    public void The_copy_drill_repeats_a_run_of_distinct_value_words_from_the_named_word()
    {
        var values = DemoWorld.ValueWords.ToHashSet(StringComparer.Ordinal);
        var drill = DemoCurriculum.Copy(50, 3);
        Assert.Equal(50, drill.Count);
        foreach (var e in drill)
        {
            Assert.Null(e.System);
            var lines = e.User.Split('\n');
            var words = lines[0].Split(' ');
            Assert.InRange(words.Length, 10, 30);
            Assert.Equal(words.Length, words.Distinct().Count());
            Assert.All(words, w => Assert.Contains(w, values));
            var from = lines[1]["Repeat from ".Length..^1];
            Assert.Equal(string.Join(' ', words[Array.IndexOf(words, from)..]), e.Assistant);
            Assert.True(e.Assistant.Split(' ').Length >= 4);
        }
        Assert.Contains(drill, e => e.Assistant != e.User.Split('\n')[0]);
        Assert.Equal(drill.Select(e => e.User), DemoCurriculum.Copy(50, 3).Select(e => e.User));
        Assert.NotEqual(drill.Select(e => e.User), DemoCurriculum.Copy(50, 4).Select(e => e.User));
    }

    [Fact]
    public void Every_lookup_answer_is_a_value_of_the_passage_and_every_fact_in_it_is_asked()
    {
        var drill = DemoCurriculum.Lookup(200, new DemoWorldOptions());
        Assert.InRange(drill.Count, 190, 200);
        Assert.Contains(drill, e => e.FollowUps is { Count: 4 });
        foreach (var e in drill)
        {
            Assert.Null(e.System);
            var end = e.User.IndexOf("</source>", StringComparison.Ordinal);
            Assert.StartsWith("<source id=\"1\" title=\"", e.User, StringComparison.Ordinal);
            var passage = e.User[..end];
            var turns = new[] { (e.User[end..], e.Assistant) }.Concat(e.FollowUps ?? []).ToList();
            // One question per fact line or sentence of the fragment.
            int facts = passage.Split('\n').Count(l => l.StartsWith("- ", StringComparison.Ordinal)) is > 0 and var lines ? lines : passage.Count(c => c == '.');
            Assert.Equal(facts, turns.Count);
            foreach (var (question, answer) in turns)
            {
                Assert.Contains("Question: ", question, StringComparison.Ordinal);
                Assert.EndsWith(" [1]", answer, StringComparison.Ordinal);
                Assert.Contains(answer[..^4], passage, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void The_lookup_drill_names_no_village_of_the_test_world()
    {
        var test = new DemoWorldOptions();
        var drill = DemoCurriculum.Lookup(2000, test);
        var names = DemoWorld.Generate(test).Names;
        Assert.DoesNotContain(drill.SelectMany(e => DemoCorpus.Words(e.User)), names.Contains);
        Assert.Throws<ArgumentException>(() => DemoCurriculum.Lookup(10, test, test.Seed));
    }
}
