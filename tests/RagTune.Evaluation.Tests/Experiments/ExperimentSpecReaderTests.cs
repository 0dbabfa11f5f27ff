using RagTune.Evaluation.Experiments;
using RagTune.TestKit;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class ExperimentSpecReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public ExperimentSpecReaderTests()
    {
        Directory.CreateDirectory(_dir.File("docs"));
        File.WriteAllText(_dir.File("docs/a.md"), "# A\n\nAlpha.");
        File.WriteAllText(_dir.File("qa.jsonl"), "{\"question\": \"q?\", \"answer\": \"a\"}\n");
    }

    public void Dispose() => _dir.Dispose();

    private ExperimentSpec Parse(string yaml) => ExperimentSpecReader.Parse(yaml, _dir.File("experiment.yaml"));

    /// <summary>A spec with every section set (also the fuzz tests' valid input).</summary>
    internal const string FullSpec = """
        name: trial
        documents:
          paths: [docs]
        questions:
          file: qa.jsonl
          test_share: 0.25
        model:
          path: models/m.gguf
          max_tokens: 20
        arms: [base, rag, raft+rag]
        fine_tuning:
          rank: 4
          steps: 12
          lr: 0.002
          seq_len: 128
        raft:
          gold_share: 0.6
          distractors: 3
          answer: short
        retrieval:
          top_k: 4
          mode: bm25
          prompt: compact
        constraints:
          latency_budget_ms: 1500
          updates_per_month: 30
          labelled_examples: 200
          citations_required: true
        experiments:
          freshness:
            share: 0.5
          data_efficiency:
            fractions: [0.5, 1.0]
            paraphrases: without
          forgetting: true
        seed: 7
        """;

    private const string Minimal = "documents:\n  paths: [docs]\nquestions:\n  file: qa.jsonl\nmodel:\n  path: m.gguf\n";

    [Fact]
    public void A_full_spec_is_read_with_paths_resolved_against_its_folder()
    {
        var spec = Parse(FullSpec);
        Assert.Equal("trial", spec.Name);
        Assert.Equal(Path.Combine(_dir.Path, "docs"), spec.Documents.Paths.Single());
        Assert.Equal(_dir.File("qa.jsonl"), spec.Questions.File);
        Assert.Equal(0.25, spec.Questions.TestShare);
        Assert.Equal(Path.Combine(_dir.Path, "models", "m.gguf"), spec.Model.Path);
        Assert.Equal(20, spec.Model.MaxTokens);
        Assert.Equal(["base", "rag", "raft+rag"], spec.Arms);
        Assert.Equal(4, spec.FineTuning.Rank);
        Assert.Equal(12, spec.FineTuning.Steps);
        Assert.Equal(0.002f, spec.FineTuning.LearningRate);
        Assert.Equal(new RaftSpec(0.6, 3, ShortAnswers: true), spec.Raft);
        Assert.Equal(4, spec.Retrieval.TopK);
        Assert.Equal(RagTune.Rag.Answering.GroundedPrompt.CompactSystemMessage, spec.Retrieval.SystemMessage);
        Assert.Equal(new ExperimentConstraints(1500, 30, 200, true, 0.10), spec.Constraints);
        Assert.Equal(0.5, spec.Experiments.Freshness!.Share);
        Assert.Equal([0.5, 1.0], spec.Experiments.DataEfficiency!.Fractions);
        Assert.False(spec.Experiments.DataEfficiency.WithParaphrases);
        Assert.True(spec.Experiments.DataEfficiency.WithoutParaphrases);
        Assert.Equal(ExperimentSpec.DefaultForgettingText, spec.Experiments.Forgetting!.Text);
        Assert.Equal(7UL, spec.Seed);
    }

    [Fact]
    public void Defaults_give_all_five_arms_and_no_experiments()
    {
        var spec = Parse(Minimal);
        Assert.Equal(ArmNames.All, spec.Arms);
        Assert.Null(spec.Experiments.Freshness);
        Assert.Equal(new FineTuningSpec(), spec.FineTuning);
        Assert.Equal("experiment", spec.Name);
    }

    [Theory]
    [InlineData("fine_tuning:\n  rnak: 8\n", 8, "fine_tuning.rnak", "unknown field")]
    [InlineData("fine_tuning:\n  rank: eight\n", 8, "fine_tuning.rank", "not a whole number")]
    [InlineData("arms: [base, rga]\n", 7, "arms", "unknown arm 'rga'")]
    [InlineData("constraints:\n  updates_per_month: -1\n", 8, "constraints.updates_per_month", "zero or more")]
    [InlineData("retrieval:\n  mode: fuzzy\n", 8, "retrieval.mode", "bm25, dense or hybrid")]
    [InlineData("colour: red\n", 7, "colour", "unknown field")]
    [InlineData("raft:\n  answer: long\n", 8, "raft.answer", "use quote")]
    public void Errors_name_the_line_and_field_and_say_what_to_do(string extra, int line, string field, string message)
    {
        var e = Assert.Throws<ExperimentSpecException>(() => Parse(Minimal + extra));
        Assert.Equal(line, e.Line);
        Assert.Equal(field, e.Field);
        Assert.Contains(message, e.Message);
        Assert.StartsWith($"{_dir.File("experiment.yaml")}:{line}: {field}:", e.Message);
    }

    [Fact]
    public void Missing_files_are_named_with_their_line()
    {
        var e = Assert.Throws<ExperimentSpecException>(() => Parse("documents:\n  paths:\n    - docs\n    - nowhere/\nquestions:\n  file: qa.jsonl\nmodel:\n  path: m.gguf\n"));
        Assert.Equal(4, e.Line);
        Assert.Contains("nowhere", e.Message);
        var q = Assert.Throws<ExperimentSpecException>(() => Parse("documents:\n  paths: [docs]\nquestions:\n  file: missing.jsonl\nmodel:\n  path: m.gguf\n"));
        Assert.Equal(4, q.Line);
        Assert.Equal("questions.file", q.Field);
    }

    [Fact]
    public void A_required_section_and_a_model_are_demanded()
    {
        Assert.Equal("questions", Assert.Throws<ExperimentSpecException>(() => Parse("documents:\n  paths: [docs]\nmodel:\n  path: m.gguf\n")).Field);
        var both = Assert.Throws<ExperimentSpecException>(() => Parse("documents:\n  paths: [docs]\nquestions:\n  file: qa.jsonl\nmodel:\n  path: m.gguf\n  remote: http://x/v1\n"));
        Assert.Contains("exactly one", both.Message);
        var syntax = Assert.Throws<ExperimentSpecException>(() => Parse("documents: [\n"));
        Assert.Equal("(syntax)", syntax.Field);
    }

    [Fact]
    public void Freshness_needs_document_paths()
    {
        var e = Assert.Throws<ExperimentSpecException>(() => Parse("documents:\n  collection: mine\nquestions:\n  file: qa.jsonl\nmodel:\n  path: m.gguf\nexperiments:\n  freshness: true\n"));
        Assert.Equal("experiments.freshness", e.Field);
        Assert.Equal(8, e.Line);
    }

    private SpecNames ServerNames => new(
        Collection: name => name == "docs" ? new DocumentsSpec([_dir.File("docs")], null) : throw new ArgumentException($"there is no collection '{name}'."),
        Dataset: name => name == "qa.jsonl" ? _dir.File("qa.jsonl") : throw new ArgumentException($"no questions file '{name}'."),
        Model: id => id == "tiny" ? _dir.File("tiny.gguf") : throw new ArgumentException($"'{id}' is not served."),
        EmbedModel: name => name.Contains('/', StringComparison.Ordinal) ? throw new ArgumentException("not by path.") : name);

    [Fact]
    public void A_server_spec_names_what_the_server_holds_and_each_name_is_resolved()
    {
        var spec = ExperimentSpecReader.Parse(
            "documents:\n  collection: docs\nquestions:\n  file: qa.jsonl\nmodel:\n  path: tiny\nretrieval:\n  mode: hybrid\n  embed_model: bge-small\nexperiments:\n  freshness: true\n",
            _dir.File("experiment.yaml"), ServerNames);
        Assert.Equal([_dir.File("docs")], spec.Documents.Paths);
        Assert.Null(spec.Documents.Collection);
        Assert.Equal(_dir.File("qa.jsonl"), spec.Questions.File);
        Assert.Equal(_dir.File("tiny.gguf"), spec.Model.Path);
        Assert.Equal("bge-small", spec.Retrieval.EmbedModel);
        Assert.NotNull(spec.Experiments.Freshness);
    }

    [Theory]
    [InlineData("documents:\n  paths: [docs]\n", 2, "documents.paths: the server reads documents from its collections")]
    [InlineData("documents:\n  collection: other\n", 2, "documents.collection: there is no collection 'other'.")]
    [InlineData("documents:\n  collection: docs\nquestions:\n  file: ../qa.jsonl\n", 4, "questions.file: no questions file '../qa.jsonl'.")]
    [InlineData("documents:\n  collection: docs\nquestions:\n  generate: true\nmodel:\n  path: big\n", 6, "model.path: 'big' is not served.")]
    [InlineData("documents:\n  collection: docs\nquestions:\n  generate: true\nmodel:\n  remote: http://x/v1\n", 6, "model.remote: the server compares the models it serves")]
    [InlineData("documents:\n  collection: docs\nquestions:\n  generate: true\nmodel:\n  path: tiny\nretrieval:\n  embed_model: /e\n", 8, "retrieval.embed_model: not by path.")]
    public void A_server_spec_is_refused_on_the_line_of_what_it_may_not_name(string yaml, int line, string message)
    {
        var e = Assert.Throws<ExperimentSpecException>(() => ExperimentSpecReader.Parse(yaml, _dir.File("experiment.yaml"), ServerNames));
        Assert.Equal(line, e.Line);
        Assert.StartsWith(message, $"{e.Field}: {e.Reason}");
    }

    [Fact]
    public void The_agreement_gate_depth_is_read_and_a_negative_one_refused_on_its_line()
    {
        Assert.Equal(10, Parse(Minimal).Retrieval.DenseAgreement);
        Assert.Equal(0, Parse(Minimal + "retrieval:\n  dense_agreement: 0\n").Retrieval.DenseAgreement);
        var e = Assert.Throws<ExperimentSpecException>(() => Parse(Minimal + "retrieval:\n  dense_agreement: -3\n"));
        Assert.Equal((8, "retrieval.dense_agreement"), (e.Line, e.Field));
    }
}
