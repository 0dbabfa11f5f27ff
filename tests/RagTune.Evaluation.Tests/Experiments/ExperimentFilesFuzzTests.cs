using RagTune.Evaluation.Experiments;
using RagTune.TestKit;
using RagTune.TestKit.Fuzzing;

namespace RagTune.Evaluation.Tests.Experiments;

/// <summary>
/// Seeded mutants of what <c>ragtune compare</c> reads from the user: <c>experiment.yaml</c> must be read or refused
/// with <see cref="ExperimentSpecException"/> naming the file (and a line and field), the questions file with
/// <see cref="QuestionFileException"/> naming it. Counts are in docs/reliability.md.
/// </summary>
public sealed class ExperimentFilesFuzzTests
{
    private const string Spec = ExperimentSpecReaderTests.FullSpec;

    private const string Questions = """
        {"id": "q1", "question": "Where is the mill?", "answer": "Eastbrook", "doc": "docs/a.md", "fact": "mill"}
        {"id": "q2", "question": "Which village has the mill?", "answers": ["Eastbrook", "East Brook"], "paraphrase_of": "q1"}
        {"id": "q3", "question": "What is the capital of Mars?", "unanswerable": true}
        """;

    [Fact]
    public void Mutated_experiment_specs_are_read_or_refused_by_name()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("docs"));
        File.WriteAllText(dir.File("docs/a.md"), "# A\n\nAlpha.");
        File.WriteAllText(dir.File("qa.jsonl"), "{\"question\": \"q?\", \"answer\": \"a\"}\n");
        var valid = System.Text.Encoding.UTF8.GetBytes(Spec);
        var path = dir.File("experiment.yaml");
        File.WriteAllBytes(path, valid);
        ExperimentSpecReader.Read(path);
        var opened = FuzzRun.Run<ExperimentSpecException>(path, seed: 50, count: 2000, r => Mutants.Text(r, valid), p => ExperimentSpecReader.Read(p));
        Assert.InRange(opened, 1, 1999);
    }

    /// <summary>The fuzz run's finding (seed 50, input 8: a quote and a backslash inside the key 'max_tokens'): YamlDotNet threw a bare InvalidOperationException.</summary>
    [Fact]
    public void A_quote_inside_a_key_is_a_spec_error_naming_the_file()
    {
        using var dir = new TempDir();
        var valid = System.Text.Encoding.UTF8.GetBytes(Spec);
        var random = new Random(50);
        byte[] mutant = [];
        for (int i = 0; i <= 8; i++) mutant = Mutants.Text(random, valid);
        Assert.Contains("max\"_token\\s: 20", System.Text.Encoding.UTF8.GetString(mutant));
        var path = dir.File("experiment.yaml");
        File.WriteAllBytes(path, mutant);
        var e = Assert.Throws<ExperimentSpecException>(() => ExperimentSpecReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not valid YAML", e.Message);
    }

    [Fact]
    public void Mutated_question_files_are_read_or_refused_by_name()
    {
        using var dir = new TempDir();
        var valid = System.Text.Encoding.UTF8.GetBytes(Questions);
        var path = dir.File("qa.jsonl");
        File.WriteAllBytes(path, valid);
        QuestionFile.Read(path);
        var opened = FuzzRun.Run<QuestionFileException>(path, seed: 51, count: 1500, r => Mutants.Text(r, valid), p => QuestionFile.Read(p));
        Assert.InRange(opened, 1, 1499);
    }
}
