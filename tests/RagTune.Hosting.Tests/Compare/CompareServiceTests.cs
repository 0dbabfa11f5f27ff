using System.Text;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Compare;
using RagTune.Hosting.Jobs;
using RagTune.Hosting.Tests.Jobs;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Compare;

/// <summary>
/// Comparisons as jobs on the real parts: a collection with uploaded documents, an uploaded questions file, the real
/// stories260K model on RagTune's engine. The tiny model's answers are poor; these tests check what the service ran,
/// kept and refused, never the answers' quality.
/// </summary>
public sealed class CompareServiceTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static readonly Dictionary<string, string> s_served = new(StringComparer.Ordinal) { ["stories"] = Stories };

    private static readonly string[] s_villages = ["Brel", "Kor", "Tam", "Lune", "Oska", "Vey"];
    private static readonly string[] s_founders = ["Tomas", "Anna", "Pieter", "Mira", "Jonas", "Ilse"];

    private static Stream Text(string s) => new MemoryStream(Encoding.UTF8.GetBytes(s));

    /// <summary>A collection "villages" with one uploaded document per village, ingested, and "villages.jsonl" with one question each.</summary>
    private static async Task WorldAsync(HostedServices h)
    {
        await h.Collections.CreateAsync("villages", CancellationToken.None);
        for (int i = 0; i < s_villages.Length; i++)
            await h.Collections.SaveUploadAsync("villages", $"{s_villages[i].ToLowerInvariant()}.md",
                Text($"# {s_villages[i]}\n\n{s_founders[i]} founded {s_villages[i]} by the river.\n"), CancellationToken.None);
        var ingest = await JobQueueTests.FinalAsync(h.Collections.StartIngest("villages"));
        Assert.True(ingest.State == JobState.Succeeded, ingest.Error);
        var questions = string.Join('\n', s_villages.Select((v, i) => $$"""{"id": "q{{i}}", "question": "Who founded {{v}}?", "answer": "{{s_founders[i]}}"}"""));
        await h.Tune.SaveDatasetAsync("villages.jsonl", Text(questions), CancellationToken.None);
    }

    private static ComparisonRequest Fields(params string[] arms) => new()
    {
        Collection = "villages",
        Model = "stories",
        Questions = "villages.jsonl",
        Arms = arms,
        Steps = 2,
        MaxTokens = 6,
        TestShare = 0.5,
    };

    [Fact]
    public async Task A_comparison_runs_as_a_job_and_leaves_its_reports_and_summary_on_disk()
    {
        await using var h = await HostedServices.StartAsync();
        await WorldAsync(h);
        var job = h.Compare.Start(Fields("base", "rag", "ft"), s_served);
        Assert.Equal(CompareService.Kind, job.Kind);
        var stages = new List<string>();
        var final = await FinalAsync(job, stages);
        Assert.True(final.State == JobState.Succeeded, final.Error);

        // The runner's stages became the job's (a fast stage may pass between two looks; the arms' stages last longer).
        Assert.Contains(stages, s => s.Contains("base", StringComparison.Ordinal));
        Assert.Contains(stages, s => s.Contains("ft", StringComparison.Ordinal));

        var summary = Assert.IsType<ComparisonSummary>(final.Result);
        Assert.Equal((job.Id, "villages-comparison"), (summary.Id, summary.Name));
        Assert.Equal(["base", "rag", "ft"], summary.Arms.Select(a => a.Arm));
        Assert.All(summary.Arms, a => Assert.Null(a.Error));
        Assert.Equal(6, summary.TrainQuestions + summary.TestQuestions);
        Assert.All(summary.Arms, a => Assert.Equal(summary.TestQuestions, a.Answers));
        Assert.Contains(summary.Recommended, summary.Arms.Select(a => a.Arm));
        Assert.NotEmpty(summary.Reasons);

        var status = h.Compare.Get(job.Id);
        Assert.Equal("succeeded", status.Comparison.State);
        Assert.Equal(summary.Recommendation, status.Comparison.Recommendation);
        Assert.Equal(["report.html", "report.md", "results.json", "experiment.yaml"], status.Files);
        Assert.Contains("<svg", File.ReadAllText(h.Compare.FilePath(job.Id, "report.html")));
        Assert.Contains("collection: \"villages\"", File.ReadAllText(h.Compare.FilePath(job.Id, "experiment.yaml")));
        // The uploaded documents were copied for the run; the collection itself was left as it was.
        var folder = Path.Combine(h.Options.ComparesDirectory, job.Id);
        Assert.Equal(6, Directory.GetFiles(Path.Combine(folder, "work", "docs"), "*.md", SearchOption.AllDirectories).Length);
        Assert.Equal(6, (await h.Collections.StatsAsync("villages", CancellationToken.None)).Documents);

        // A later server over the same data directory still lists it, from disk.
        await using var later = new LaterServices(h.Options);
        var listed = Assert.Single(later.Compare.List());
        Assert.Equal((job.Id, "succeeded", summary.Recommendation), (listed.Id, listed.State, listed.Recommendation));
        Assert.Equal(summary.Arms, later.Compare.Get(job.Id).Summary!.Arms);

        h.Compare.Delete(job.Id);
        Assert.False(Directory.Exists(folder));
        Assert.Equal(HostingFailure.NotFound, Assert.Throws<HostingException>(() => later.Compare.Get(job.Id)).Failure);
    }

    [Fact]
    public async Task A_whole_spec_runs_as_written_and_a_cancelled_run_is_listed_as_incomplete_later()
    {
        await using var h = await HostedServices.StartAsync();
        await WorldAsync(h);
        var spec = h.Compare.Template(Fields("base", "rag", "ft")).Replace("steps: 2", "steps: 100000", StringComparison.Ordinal);
        var job = h.Compare.Start(new ComparisonRequest { Spec = spec }, s_served);
        // Cancel once training has begun: the trainer observes the token between steps.
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
            while (!job.Snapshot().Stage.Contains("ft", StringComparison.Ordinal) && !job.Snapshot().IsFinal)
                await job.WaitForChangeAsync(job.Snapshot().Version, timeout.Token);
        Assert.True(h.Jobs.Cancel(job.Id));
        var final = await JobQueueTests.FinalAsync(job);
        Assert.Equal(JobState.Cancelled, final.State);
        Assert.Equal("cancelled", h.Compare.Get(job.Id).Comparison.State);
        var missing = Assert.Throws<HostingException>(() => h.Compare.FilePath(job.Id, "report.html"));
        Assert.Contains("reports are written when it succeeds", missing.Message);

        // A later server lists it as its job journal recorded it: cancelled.
        await using var later = new LaterServices(h.Options);
        var listed = Assert.Single(later.Compare.List());
        Assert.Equal("cancelled", listed.State);
        Assert.Equal(spec, File.ReadAllText(later.Compare.FilePath(job.Id, "experiment.yaml")));
    }

    [Fact]
    public async Task A_spec_naming_the_server_s_disk_or_missing_things_is_refused_with_its_line_and_nothing_is_kept()
    {
        await using var h = await HostedServices.StartAsync();
        await WorldAsync(h);
        void Refused(ComparisonRequest request, string fragment)
        {
            var e = Assert.Throws<HostingException>(() => h.Compare.Start(request, s_served));
            Assert.Equal(HostingFailure.Invalid, e.Failure);
            Assert.Contains(fragment, e.Message);
        }
        var template = h.Compare.Template(Fields());
        Refused(new ComparisonRequest { Spec = template.Replace("collection: \"villages\"", "paths: [/etc]", StringComparison.Ordinal) },
            "experiment.yaml line 5: documents.paths: the server reads documents from its collections");
        Refused(Fields() with { Collection = "nope" }, "there is no collection 'nope'");
        Refused(Fields() with { Questions = "../villages.jsonl" }, "no uploaded questions file '../villages.jsonl'");
        Refused(Fields() with { Model = "/models/x.gguf" }, "served models: stories");
        Refused(new ComparisonRequest { Spec = template.Replace("path: \"stories\"", "remote: http://10.0.0.1/v1", StringComparison.Ordinal) },
            "model.remote: the server compares the models it serves");
        Refused(new ComparisonRequest { Spec = template + "experiments:\n  forgetting:\n    file: /etc/passwd\n" }, "forgetting.file: the server reads no files");
        Refused(new ComparisonRequest { Spec = template.Replace("mode: bm25", "mode: dense\n  embed_model: /tmp/encoder", StringComparison.Ordinal) },
            "embed_model: '/tmp/encoder': the server loads embedding models by catalog or cache name");
        Refused(new ComparisonRequest { Spec = template, Collection = "villages" }, "not both");
        Refused(new ComparisonRequest { Model = "stories" }, "Name the collection");
        Refused(Fields() with { Steps = 0 }, "fine_tuning.steps: must be at least 1");
        Assert.False(Directory.Exists(h.Options.ComparesDirectory) && Directory.EnumerateFileSystemEntries(h.Options.ComparesDirectory).Any());
        Assert.Empty(h.Compare.List());
    }

    [Fact]
    public async Task Freshness_needs_uploaded_documents_to_edit()
    {
        await using var h = await HostedServices.StartAsync();
        await WorldAsync(h);
        // A collection ingested from elsewhere has no uploads folder: it is compared as it is, without freshness.
        Directory.Delete(h.Collections.UploadFolder("villages"), recursive: true);
        var e = Assert.Throws<HostingException>(() => h.Compare.Start(Fields("base") with { Freshness = true }, s_served));
        Assert.Contains("experiments.freshness: needs the documents' files to edit a copy, and collection 'villages' has no uploaded documents", e.Message);
    }

    [Fact]
    public async Task Unknown_ids_and_files_are_not_found()
    {
        await using var h = await HostedServices.StartAsync();
        Assert.Equal(HostingFailure.NotFound, Assert.Throws<HostingException>(() => h.Compare.Get("../../etc")).Failure);
        Assert.Equal(HostingFailure.NotFound, Assert.Throws<HostingException>(() => h.Compare.Get("compare-0123456789ab")).Failure);
        var file = Assert.Throws<HostingException>(() => h.Compare.FilePath("compare-0123456789ab", "summary.json"));
        Assert.Contains("ask for one of report.html, report.md, results.json, experiment.yaml", file.Message);
        Assert.Equal(HostingFailure.NotFound, Assert.Throws<HostingException>(() => h.Compare.Delete("compare-0123456789ab")).Failure);
    }

    /// <summary>Waits for the job to finish, recording each new stage it reported.</summary>
    private static async Task<JobSnapshot> FinalAsync(Job job, List<string> stages)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while (true)
        {
            var s = job.Snapshot();
            if (s.Stage is not ("queued" or "starting" or "done") && (stages.Count == 0 || stages[^1] != s.Stage)) stages.Add(s.Stage);
            if (s.IsFinal) return s;
            await job.WaitForChangeAsync(s.Version, timeout.Token);
        }
    }

    /// <summary>The services a restarted server builds over the same data directory: a fresh queue that knows only the recorded jobs of the last run.</summary>
    private sealed class LaterServices : IAsyncDisposable
    {
        private readonly JobQueue _jobs;
        private readonly CollectionService _collections;

        public LaterServices(RagTuneOptions options)
        {
            _jobs = new JobQueue(options, Microsoft.Extensions.Logging.Abstractions.NullLogger<JobQueue>.Instance);
            _collections = new CollectionService(options, _jobs);
            Compare = new CompareService(options, _jobs, _collections);
        }

        public CompareService Compare { get; }

        public ValueTask DisposeAsync()
        {
            _jobs.Dispose();
            _collections.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
