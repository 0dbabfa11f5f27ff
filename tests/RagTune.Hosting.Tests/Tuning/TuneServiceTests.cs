using System.Text;
using System.Text.Json;
using RagTune.FineTuning.Training;
using RagTune.Hosting.Jobs;
using RagTune.Hosting.Tests.Jobs;
using RagTune.Hosting.Tuning;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Tuning;

public sealed class TuneServiceTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static List<JsonElement> Examples(int n) =>
        [.. Enumerable.Range(0, n).Select(i => JsonSerializer.SerializeToElement(new { instruction = $"Tell me about cat {i}.", output = $"Cat {i} was happy in the sun." }))];

    private static TuneRequest Request(List<JsonElement>? examples = null, string? dataset = null) => new()
    {
        ModelPath = Stories,
        ModelName = "stories260K",
        Examples = examples,
        Dataset = dataset,
        Steps = 4,
        BatchSize = 2,
        GradAccum = 1,
        SeqLen = 48,
        EvalEvery = 2,
        ValidationSplit = 0.25,
        LearningRate = 1e-3f,
    };

    [Fact]
    public async Task Inline_examples_train_an_adapter_and_every_step_lands_on_the_curve()
    {
        await using var h = await HostedServices.StartAsync();
        var job = h.Tune.Start(Request(Examples(8)));
        var final = await JobQueueTests.FinalAsync(job);
        Assert.True(final.State == JobState.Succeeded, final.Error);
        var result = Assert.IsType<TuneResult>(final.Result);
        Assert.Equal(4, result.Steps);
        Assert.True(File.Exists(Path.Combine(h.DataDir, result.AdapterDir, "adapter_config.json")), result.AdapterDir);
        Assert.StartsWith($"tunes/{job.Id}/", result.AdapterDir + "/");
        var points = job.PointsFrom(0);
        Assert.Equal([1, 2, 3, 4], points.Select(p => p.Step));
        Assert.Equal([2, 4], points.Where(p => p.ValLoss != null).Select(p => p.Step));
        Assert.Equal(result.FinalTrainLoss, points[^1].TrainLoss, 1e-6);
        Assert.Equal((4, 4), (final.Done, final.Total));
    }

    [Fact]
    public async Task An_uploaded_data_set_is_found_by_its_stored_name()
    {
        await using var h = await HostedServices.StartAsync();
        var lines = string.Join('\n', Examples(8).Select(e => e.GetRawText()));
        var stored = await h.Tune.SaveDatasetAsync("../cats.jsonl", new MemoryStream(Encoding.UTF8.GetBytes(lines)), CancellationToken.None);
        Assert.Equal("cats.jsonl", stored.Name);
        Assert.Equal([stored], h.Tune.ListDatasets());
        var final = await JobQueueTests.FinalAsync(h.Tune.Start(Request(dataset: "cats.jsonl")));
        Assert.True(final.State == JobState.Succeeded, final.Error);
    }

    [Fact]
    public async Task A_broken_data_set_fails_the_job_with_the_reader_s_message()
    {
        await using var h = await HostedServices.StartAsync();
        var examples = new List<JsonElement> { JsonSerializer.SerializeToElement(new { nothing = "useful" }) };
        var final = await JobQueueTests.FinalAsync(h.Tune.Start(Request(examples)));
        Assert.Equal(JobState.Failed, final.State);
        Assert.Contains("data.jsonl", final.Error);
    }

    [Fact]
    public async Task Bad_requests_are_refused_before_anything_is_queued()
    {
        await using var h = await HostedServices.StartAsync();
        void Refused(TuneRequest r, HostingFailure failure, string fragment)
        {
            var e = Assert.Throws<HostingException>(() => h.Tune.Start(r));
            Assert.Equal(failure, e.Failure);
            Assert.Contains(fragment, e.Message);
        }
        Refused(Request(), HostingFailure.Invalid, "either as 'dataset'");
        Refused(Request(Examples(2), "a.jsonl"), HostingFailure.Invalid, "not both");
        Refused(Request(dataset: "missing.jsonl"), HostingFailure.NotFound, "upload it first");
        Refused(Request(dataset: "../../etc/passwd"), HostingFailure.NotFound, "no uploaded data set");
        Refused(Request([JsonSerializer.SerializeToElement("text")]), HostingFailure.Invalid, "examples[0]");
        Refused(Request(Examples(2)) with { Steps = 0 }, HostingFailure.Invalid, "steps 0 must be positive");
        Refused(Request(Examples(2)) with { LearningRate = 5 }, HostingFailure.Invalid, "learningRate 5");
        Assert.Empty(h.Jobs.List());
        var bad = await Assert.ThrowsAsync<HostingException>(() => h.Tune.SaveDatasetAsync("model.gguf", new MemoryStream([1]), CancellationToken.None));
        Assert.Equal("file", bad.Field);
    }

    [Theory]
    [InlineData("learningRate", "learningRate 5 must be in (0, 1); 0.0002 is typical for LoRA.")]
    [InlineData("steps", "steps 0 must be positive.")]
    [InlineData("epochs", "epochs 0 must be positive.")]
    [InlineData("batchSize", "batchSize 0 must be between 1 and 4096.")]
    [InlineData("validationSplit", "validationSplit 1.5 must be in [0, 1), e.g. 0.1.")]
    public async Task A_bad_setting_is_named_by_its_request_field(string field, string message)
    {
        await using var h = await HostedServices.StartAsync();
        var request = Request(Examples(2));
        request = field switch
        {
            "learningRate" => request with { LearningRate = 5 },
            "steps" => request with { Steps = 0 },
            "epochs" => request with { Epochs = 0 },
            "batchSize" => request with { BatchSize = 0 },
            _ => request with { ValidationSplit = 1.5 },
        };
        var e = Assert.Throws<HostingException>(() => h.Tune.Start(request));
        Assert.Equal(HostingFailure.Invalid, e.Failure);
        Assert.Equal(message, e.Message);
        Assert.Equal(field, e.Field);
        Assert.Empty(h.Jobs.List());
    }

    [Fact]
    public void Settings_a_request_does_not_set_are_named_as_the_server_configures_them()
    {
        Assert.Equal("RagTune:TrainingThreads", TuneService.FieldOf(nameof(TuneOptions.Threads)));
        Assert.Equal("loraRank", TuneService.FieldOf(nameof(TuneOptions.LoraRank)));
        Assert.Null(TuneService.FieldOf(nameof(TuneOptions.Warmup)));
        var e = new RagTune.Engine.SettingException(nameof(TuneOptions), "{Warmup} 2 must be a fraction in [0, 1).", nameof(TuneOptions.Warmup));
        Assert.Equal("TuneOptions.Warmup 2 must be a fraction in [0, 1).", TuneService.Word(e));
    }
}
