using RagTune.Hosting.Compare;
using RagTune.Hosting.Stores;
using RagTune.Evaluation.Experiments;
using RagTune.Evaluation.Experiments.Demo;
using RagTune.TestKit;

namespace RagTune.Evaluation.Tests.Experiments;

/// <summary>
/// The runner end to end on real parts: a generated world ingested into a real SQLite collection, and the real
/// stories260K model on RagTune's engine (trained with LoRA for the trained arms). The tiny model's answers are poor;
/// these tests check what the runner measured and recorded, never the answers' quality.
/// </summary>
public sealed class ExperimentRunnerTests : IClassFixture<ExperimentRunnerTests.TinyRun>
{
    /// <summary>One run shared by the tests (it trains three adapters).</summary>
    public sealed class TinyRun : IDisposable
    {
        public TempDir Dir { get; } = new();
        internal ExperimentRun Run { get; }
        internal List<ExperimentQuestion> World { get; }

        public TinyRun()
        {
            World = DemoWorld.Write(Dir.File("world"), new DemoWorldOptions(Villages: 8, FactsPerVillage: 1, Paraphrases: 1, Unanswerable: 2, Seed: 5));
            var yaml = DemoWorld.Spec(SharedData.File("models", "stories260k", "stories260K.gguf"), quick: true, threads: 2)
                .Replace("steps: 6", "steps: 2", StringComparison.Ordinal)
                .Replace("max_tokens: 12", "max_tokens: 6", StringComparison.Ordinal)
                .Replace("share: 0.3", "share: 0.5", StringComparison.Ordinal);
            File.WriteAllText(Dir.File("experiment.yaml"), yaml);
            var spec = ExperimentSpecReader.Read(Dir.File("experiment.yaml"));
            using var models = new LocalArmModels(spec.Model.Path!, spec.Model.Threads);
            var stores = new CatalogExperimentStores(CollectionStores.Catalog(Dir.File("work/data")), CollectionStores.Catalog(Dir.File("user-data")));
            var runner = new ExperimentRunner(spec, models, stores, ExperimentEmbedders.None, Dir.File("work"));
            Run = runner.RunAsync(null, CancellationToken.None).GetAwaiter().GetResult();
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly TinyRun _fixture;

    public ExperimentRunnerTests(TinyRun fixture) => _fixture = fixture;

    private ExperimentRun Run => _fixture.Run;

    [Fact]
    public void Every_arm_answers_every_test_question_and_the_split_is_by_fact()
    {
        Assert.Equal(ArmNames.All, Run.Arms.Select(a => a.Arm));
        Assert.All(Run.Arms, a => Assert.Null(a.Error));
        Assert.All(Run.Arms, a => Assert.Equal(Run.TestQuestions.Select(q => q.Id), a.Answers.Select(x => x.QuestionId)));
        Assert.Empty(Run.TrainQuestions.Select(q => q.FactId).Intersect(Run.TestQuestions.Select(q => q.FactId)));
        Assert.Equal(_fixture.World.Count, Run.TrainQuestions.Count + Run.TestQuestions.Count);
        Assert.StartsWith("stories260K.gguf (sha256 ", Run.Model);
        Assert.Equal(1, Run.RecallK); // the demo spec shows the top source only
    }

    [Fact]
    public void Gold_passages_are_found_for_answerable_questions()
    {
        foreach (var q in Run.TestQuestions.Concat(Run.TrainQuestions).Where(q => q.Answerable))
        {
            Assert.NotNull(q.GoldPassage);
            Assert.Contains(q.Answers[0], q.GoldPassage, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(_fixture.World.Single(w => w.Id == q.Id).GoldDocumentId, q.GoldDocumentId);
        }
    }

    [Fact]
    public void Retrieval_arms_record_passages_and_stage_times_and_closed_book_arms_do_not()
    {
        foreach (var arm in Run.Arms)
        {
            foreach (var a in arm.Answers.Where(a => !a.Abstained))
            {
                Assert.True(a.PromptTokens > 0 && a.CompletionTokens > 0, $"{arm.Arm} {a.QuestionId}: token counts");
                Assert.True(a.PromptMs > 0 && a.GenerationMs >= 0);
            }
            if (ArmNames.Retrieves(arm.Arm))
            {
                Assert.All(arm.Answers, a => Assert.True(a.RetrievalMs > 0));
                Assert.All(arm.Answers, a => Assert.InRange(a.RetrievedDocumentIds.Count, 1, 2));
                Assert.Contains(arm.Answers, a => a.Passages.Count > 0);
            }
            else
            {
                Assert.All(arm.Answers, a => Assert.Empty(a.Passages));
                Assert.All(arm.Answers, a => Assert.Equal(0, a.RetrievalMs));
            }
        }
        // The RAG prompt is longer than the question alone: the sources are in it.
        var rag = Run.Arms.Single(a => a.Arm == ArmNames.Rag).Answers.Where(a => !a.Abstained).Average(a => a.PromptTokens);
        var closed = Run.Arms.Single(a => a.Arm == ArmNames.Base).Answers.Average(a => a.PromptTokens);
        Assert.True(rag > 2 * closed, $"rag prompt {rag} tokens vs closed book {closed}");
    }

    [Fact]
    public void Trained_arms_carry_their_training_run_and_forgetting_is_measured()
    {
        foreach (var arm in Run.Arms)
        {
            if (!ArmNames.IsTrained(arm.Arm)) { Assert.Null(arm.Training); continue; }
            var t = arm.Training!;
            Assert.Equal(2, t.Steps);
            Assert.True(t.WallSeconds > 0 && t.Tokens > 0 && t.PeakMemoryBytes > 0);
            Assert.True(File.Exists(Path.Combine(t.AdapterDir, "adapter_model.safetensors")));
            Assert.Equal(2, t.Loss.Count);
        }
        Assert.Same(Run.Arms[2].Training, Run.Arms[3].Training); // ft+rag serves the ft adapter
        Assert.Equal(["ft", "raft+rag"], Run.Forgetting.Select(f => f.Arm));
        Assert.All(Run.Forgetting, f => Assert.True(f.PerplexityBefore > 1 && f.PerplexityAfter > 1 && double.IsFinite(f.PerplexityAfter)));
        Assert.Equal(Run.Forgetting[0].PerplexityBefore, Run.Forgetting[1].PerplexityBefore);
        var point = Assert.Single(Run.DataEfficiency!.Points);
        Assert.Equal((1.0, true), (point.Fraction, point.WithParaphrases));
        Assert.Equal(Run.TestQuestions.Count, point.Answers.Count);
    }

    [Fact]
    public void Freshness_rewrites_the_copy_reingests_and_the_rag_arm_then_reads_the_new_answer()
    {
        var f = Run.Freshness!;
        Assert.NotEmpty(f.ChangedFactIds);
        Assert.True(f.ReingestSeconds > 0);
        foreach (var q in f.ChangedQuestions)
        {
            var old = Run.TestQuestions.Single(t => t.Id == q.Id).Answers[0];
            Assert.NotEqual(old, q.Answers[0], StringComparer.OrdinalIgnoreCase);
            var docName = q.GoldDocumentId!;
            // The user's documents are untouched; the work copy holds the new value.
            Assert.Contains(old, File.ReadAllText(_fixture.Dir.File(Path.Combine("world", "docs", docName))), StringComparison.OrdinalIgnoreCase);
            Assert.Contains(q.Answers[0], File.ReadAllText(_fixture.Dir.File(Path.Combine("work", "docs", "docs", docName))));
        }
        var ids = f.ChangedQuestions.Select(q => q.Id).ToHashSet();
        var before = f.Before.Single(a => a.Arm == ArmNames.Rag).Answers;
        var after = f.After.Single(a => a.Arm == ArmNames.Rag).Answers;
        Assert.Equal(ids, before.Select(a => a.QuestionId).ToHashSet());
        Assert.Equal(ids, after.Select(a => a.QuestionId).ToHashSet());
        foreach (var q in f.ChangedQuestions)
        {
            var old = Run.TestQuestions.Single(t => t.Id == q.Id).Answers[0];
            var b = before.Single(a => a.QuestionId == q.Id);
            var a = after.Single(a => a.QuestionId == q.Id);
            if (b.Passages.Any(p => p.DocumentId == q.GoldDocumentId))
                Assert.Contains(b.Passages.Where(p => p.DocumentId == q.GoldDocumentId), p => p.Text.Contains(old, StringComparison.OrdinalIgnoreCase));
            if (a.Passages.Any(p => p.DocumentId == q.GoldDocumentId))
            {
                var passage = a.Passages.First(p => p.DocumentId == q.GoldDocumentId).Text;
                Assert.Contains(q.Answers[0], passage);
                Assert.DoesNotContain(old, passage, StringComparison.OrdinalIgnoreCase);
            }
        }
        Assert.Contains(after, a => a.Passages.Any(p => f.ChangedQuestions.Any(q => p.Text.Contains(q.Answers[0], StringComparison.Ordinal))));
        Assert.Equal(f.ReingestSeconds, f.UpdateCostSeconds[ArmNames.Rag]);
        Assert.Equal(Run.Arms[2].Training!.WallSeconds, f.UpdateCostSeconds[ArmNames.FineTuned]);
        Assert.False(f.UpdateCostSeconds.ContainsKey(ArmNames.Base));
    }
}
