using System.Text.Json;
using RagTune.Engine;
using RagTune.FineTuning.Adapters;
using RagTune.FineTuning.Datasets;
using RagTune.FineTuning.Training;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Training;

public sealed class TrainerTests
{
    private static string WriteData(TempDir dir, int n = 12)
    {
        var path = dir.File("data.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, n).Select(i =>
            JsonSerializer.Serialize(new { instruction = $"Tell me about the cat number {i}.", output = $"The cat {i} was happy and played in the sun." })));
        return path;
    }

    private static TuneOptions Options(TempDir dir, string data) => new()
    {
        ModelPath = TestModels.Stories, DataPath = data, OutputDir = dir.File("out"), Steps = 4, BatchSize = 2, GradAccum = 2,
        SeqLen = 48, EvalEvery = 2, Threads = 1, LearningRate = 1e-3f, ValidationSplit = 0.25, LoraDropout = 0.1f,
    };

    [Fact]
    public void A_short_run_writes_every_artefact_and_reports_progress()
    {
        using var dir = new TempDir();
        using var trainer = new Trainer(Options(dir, WriteData(dir)));
        trainer.Prepare();
        Assert.Equal(12, trainer.TrainReport!.Examples); // 3 of them are held out for validation
        var reports = new List<TrainingProgress>();
        TrainingEstimate? estimate = null;
        var result = trainer.Run(new SyncProgress(reports.Add), e => estimate = e);
        Assert.Equal(4, result.Steps);
        Assert.Equal([1, 2, 3, 4], reports.Select(r => r.Step));
        Assert.NotNull(reports[1].ValLoss);
        Assert.Null(reports[0].ValLoss);
        Assert.True(estimate!.PerStep > TimeSpan.Zero);
        Assert.True(estimate.MemoryBytes > 0);
        Assert.Contains(result.BestStep!.Value, new[] { 2, 4 });
        foreach (var f in result.Files) Assert.True(File.Exists(f), f);
        var csv = File.ReadAllLines(Path.Combine(dir.File("out"), "loss.csv"));
        Assert.Equal("step,epoch,train_loss,val_loss,lr,tokens_per_second,overfitting", csv[0]);
        Assert.Equal(5, csv.Length);
        var svg = File.ReadAllText(Path.Combine(dir.File("out"), "loss.svg"));
        Assert.StartsWith("<svg", svg);
        Assert.Contains("polyline", svg);
        Assert.Contains($"best {result.BestStep}", svg);
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.AdapterDir, "adapter_config.json"))).RootElement;
        Assert.Equal("LORA", config.GetProperty("peft_type").GetString());
        Assert.Equal(8, config.GetProperty("r").GetInt32());
    }

    [Fact]
    public void Resuming_from_a_checkpoint_reaches_the_same_loss_curve()
    {
        using var dir = new TempDir();
        var data = WriteData(dir);
        var full = Options(dir, data) with { OutputDir = dir.File("full"), Steps = 6, CheckpointEvery = 2 };
        float uninterrupted;
        using (var t = new Trainer(full)) { t.Prepare(); uninterrupted = t.Run().FinalTrainLoss; }

        // Stop after 2 steps (a checkpoint at step 2), then resume with the full step count.
        var part = full with { OutputDir = dir.File("part") };
        using (var t = new Trainer(part with { Steps = 6 }))
        {
            t.Prepare();
            using var cts = new CancellationTokenSource();
            Assert.Throws<OperationCanceledException>(() => t.Run(new SyncProgress(p => { if (p.Step == 3) cts.Cancel(); }), ct: cts.Token));
        }
        float resumed;
        using (var t = new Trainer(part with { Resume = true })) { t.Prepare(); resumed = t.Run().FinalTrainLoss; }
        Assert.Equal(uninterrupted, resumed, 1e-5f);
        var a = File.ReadAllLines(Path.Combine(dir.File("full"), "loss.csv")).Select(l => l.Split(',')[2]);
        var b = File.ReadAllLines(Path.Combine(dir.File("part"), "loss.csv")).Select(l => l.Split(',')[2]);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Full_fine_tuning_writes_a_model_file_keeps_the_best_step_and_resumes_to_the_same_curve()
    {
        using var dir = new TempDir();
        var data = WriteData(dir);
        var full = Options(dir, data) with { Method = "full", OutputDir = dir.File("full"), Steps = 6, CheckpointEvery = 2 };
        TrainingResult result;
        using (var t = new Trainer(full))
        {
            t.Prepare();
            Assert.Equal(TestModels.StoriesModel.Engine.Config.ParameterCount(tiedOutput: false), t.Estimate!.TrainableParameters);
            result = t.Run();
        }
        Assert.Equal(Path.Combine(dir.File("full"), "model"), result.AdapterDir);
        foreach (var f in result.Files) Assert.True(File.Exists(f), f);
        Assert.True(File.Exists(Path.Combine(dir.File("full"), "checkpoint", TrainedModel.ModelFileName)));

        // The exported model is a complete GGUF (tokenizer metadata included) whose weights differ from the base.
        using (var tuned = RagTune.Models.Local.LocalModel.Load(Path.Combine(result.AdapterDir, TrainedModel.ModelFileName)))
        {
            Assert.Equal(TestModels.StoriesModel.Tokenizer.VocabSize, tuned.Tokenizer.VocabSize);
            var before = TestModels.StoriesModel.Engine.Weights.Layers[0].Wq.AsFloats().ToArray();
            Assert.NotEqual(before, tuned.Engine.Weights.Layers[0].Wq.AsFloats().ToArray());
        }

        var part = full with { OutputDir = dir.File("part") };
        using (var t = new Trainer(part))
        {
            t.Prepare();
            using var cts = new CancellationTokenSource();
            Assert.Throws<OperationCanceledException>(() => t.Run(new SyncProgress(p => { if (p.Step == 3) cts.Cancel(); }), ct: cts.Token));
        }
        float resumed;
        using (var t = new Trainer(part with { Resume = true })) { t.Prepare(); resumed = t.Run().FinalTrainLoss; }
        Assert.Equal(result.FinalTrainLoss, resumed, 1e-5f);
        Assert.Equal(File.ReadAllLines(Path.Combine(dir.File("full"), "loss.csv")).Select(l => l.Split(',')[2]),
            File.ReadAllLines(Path.Combine(dir.File("part"), "loss.csv")).Select(l => l.Split(',')[2]));

        // A LoRA checkpoint is not a full one: resuming across methods is refused.
        using (var t = new Trainer(part with { Method = "lora", Resume = true }))
        {
            t.Prepare();
            Assert.Contains("another run", Assert.Throws<IOException>(() => t.Run()).Message);
        }
    }

    [Fact]
    public void Full_fine_tuning_refuses_a_quantized_base_before_training()
    {
        using var dir = new TempDir();
        var q8 = TinyModels.Get("tiny", "q8_0", 1);
        using var t = new Trainer(Options(dir, WriteData(dir)) with { Method = "full", ModelPath = q8 });
        var e = Assert.Throws<NotSupportedException>(t.Prepare);
        Assert.Contains("is q8_0", e.Message);
        Assert.Contains("--method lora", e.Message);
    }

    [Fact]
    public void Bad_input_fails_before_training_with_clear_errors()
    {
        using var dir = new TempDir();
        var data = WriteData(dir);
        var ok = Options(dir, data);

        var bad = dir.File("bad.jsonl");
        File.WriteAllText(bad, "{\"instruction\": \"x\"}\n");
        using (var t = new Trainer(ok with { DataPath = bad }))
            Assert.Contains("bad.jsonl:1: missing field 'output'", Assert.Throws<DatasetFormatException>(t.Prepare).Message);

        using (var t = new Trainer(ok with { Targets = "q,wq" }))
            Assert.Contains("Unknown LoRA target 'wq'", Assert.Throws<ArgumentException>(t.Prepare).Message);

        using (var t = new Trainer(ok with { Method = "full", MemoryLimitBytes = 1024 }))
            Assert.Contains("Set TuneOptions.Method to lora", Assert.Throws<SettingException>(t.Prepare).Message);

        using (var t = new Trainer(ok with { MemoryLimitBytes = 1024 }))
        {
            var e = Assert.Throws<SettingException>(t.Prepare);
            Assert.Equal(nameof(TuneOptions.BatchSize), e.Setting);
            Assert.Contains("Lower --batch (raise --grad-accum to keep the effective batch), --seq-len, or turn on --recompute.",
                e.Render(s => "--" + s switch { "BatchSize" => "batch", "GradAccum" => "grad-accum", "SeqLen" => "seq-len", _ => "recompute" }));
        }

        using (var t = new Trainer(ok with { LearningRate = -1 }))
        {
            var e = Assert.Throws<SettingException>(t.Prepare);
            Assert.Equal(nameof(TuneOptions.LearningRate), e.Setting);
            Assert.Equal(nameof(TuneOptions.LearningRate), e.ParamName);
            Assert.Contains("TuneOptions.LearningRate -1 must be in (0, 1)", e.Message);
        }

        using (var t = new Trainer(ok with { Resume = true }))
        {
            t.Prepare();
            // Named as the setting, for each front end to word (the CLI says --resume, the server "resume").
            var e = Assert.Throws<SettingException>(() => t.Run());
            Assert.Equal(nameof(TuneOptions.Resume), e.Setting);
            Assert.StartsWith("TuneOptions.Resume: no checkpoint in", e.Message);
            Assert.Contains("Run without TuneOptions.Resume", e.Message);
        }
    }

    [Fact]
    public void A_checkpoint_from_another_run_is_refused()
    {
        using var dir = new TempDir();
        var data = WriteData(dir);
        var o = Options(dir, data) with { Steps = 2 };
        using (var t = new Trainer(o)) { t.Prepare(); t.Run(); }
        using var other = new Trainer(o with { LoraRank = 4, Resume = true });
        other.Prepare();
        Assert.Contains("belongs to another run", Assert.Throws<IOException>(() => other.Run()).Message);
    }

    [Fact]
    public void The_overfitting_rule_needs_two_rises_against_falling_training_loss()
    {
        var h = new LossHistory();
        h.Points.Add(new LossPoint(1, 0, 3.0f, 2.0f, 1e-3f, 1));
        h.Points.Add(new LossPoint(2, 0, 2.5f, 2.1f, 1e-3f, 1));
        Assert.True(h.IsOverfitting(2.0f, 2.2f));
        Assert.False(h.IsOverfitting(2.0f, 2.05f)); // validation fell
        Assert.False(h.IsOverfitting(2.6f, 2.2f));  // training rose too
    }

    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
