using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using RagTune.Hosting.Jobs;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Jobs;

public sealed class JobQueueTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    internal static async Task<JobSnapshot> FinalAsync(Job job)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            var s = job.Snapshot();
            if (s.IsFinal) return s;
            await job.WaitForChangeAsync(s.Version, timeout.Token);
        }
    }

    private RagTuneOptions Options(int concurrent = 1, int queued = 16) =>
        new() { MaxConcurrentJobs = concurrent, MaxQueuedJobs = queued, DataDirectory = _dir.File("data") };

    private async Task<JobQueue> StartAsync(int concurrent = 1, int queued = 16)
    {
        var queue = new JobQueue(Options(concurrent, queued), NullLogger<JobQueue>.Instance);
        await queue.StartAsync(CancellationToken.None);
        return queue;
    }

    [Fact]
    public async Task A_job_runs_in_the_background_reports_progress_and_keeps_its_result()
    {
        using var queue = await StartAsync();
        var job = queue.Enqueue("test", "counting", null, async (j, ct) =>
        {
            for (int i = 1; i <= 3; i++)
            {
                j.Report("count", i, 3, TimeSpan.FromSeconds(3 - i));
                j.AddPoint(new LossSample(i, 0, 1.0 / i, i == 3 ? 0.5 : null, 1e-3));
                await Task.Yield();
            }
            return "counted";
        });
        var final = await FinalAsync(job);
        Assert.Equal(JobState.Succeeded, final.State);
        Assert.Equal("counted", final.Result);
        Assert.Equal((3, 3), (final.Done, final.Total));
        Assert.Equal(3, final.Points);
        Assert.Equal(0.5, final.ValLoss);
        Assert.Null(final.EtaSeconds);
        Assert.NotNull(final.Finished);
        Assert.Equal([1, 2, 3], job.PointsFrom(0).Select(p => p.Step));
        Assert.Equal([3], job.PointsFrom(2).Select(p => p.Step));
        Assert.Same(job, queue.Get(job.Id));
        // A subscriber that arrives late is answered at once: the version it has not seen is the final one.
        await job.WaitForChangeAsync(-1, CancellationToken.None);
    }

    [Fact]
    public async Task A_full_queue_refuses_new_jobs_until_a_slot_frees()
    {
        using var queue = await StartAsync(concurrent: 1, queued: 1);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = queue.Enqueue("test", "first", null, async (_, _) => { await gate.Task; return null; });
        while (running.State != JobState.Running) await running.WaitForChangeAsync(running.Snapshot().Version, CancellationToken.None);
        var waiting = queue.Enqueue("test", "second", null, (_, _) => Task.FromResult<object?>(2));
        var refused = Assert.Throws<HostingException>(() => queue.Enqueue("test", "third", null, (_, _) => Task.FromResult<object?>(3)));
        Assert.Equal(HostingFailure.Busy, refused.Failure);
        Assert.Contains("MaxQueuedJobs", refused.Message);
        Assert.Equal(JobState.Queued, waiting.State);

        gate.SetResult();
        Assert.Equal(JobState.Succeeded, (await FinalAsync(running)).State);
        Assert.Equal(2, (await FinalAsync(waiting)).Result);
        var later = queue.Enqueue("test", "fourth", null, (_, _) => Task.FromResult<object?>(4));
        Assert.Equal(4, (await FinalAsync(later)).Result);
    }

    [Fact]
    public async Task Cancelling_a_queued_job_skips_it_and_cancelling_a_running_one_stops_it()
    {
        using var queue = await StartAsync(concurrent: 1);
        var running = queue.Enqueue("test", "endless", "a", async (_, ct) => { await Task.Delay(Timeout.Infinite, ct); return null; });
        while (running.State != JobState.Running) await running.WaitForChangeAsync(running.Snapshot().Version, CancellationToken.None);
        bool ran = false;
        var queued = queue.Enqueue("test", "never", "b", (_, _) => { ran = true; return Task.FromResult<object?>(null); });
        Assert.True(queue.IsBusy("test", "a"));
        Assert.True(queue.Cancel(queued.Id));
        Assert.Equal(JobState.Cancelled, queued.State);
        Assert.False(queue.IsBusy("test", "b"));

        Assert.True(queue.Cancel(running.Id));
        Assert.Equal(JobState.Cancelled, (await FinalAsync(running)).State);
        Assert.False(queue.Cancel(running.Id));
        Assert.False(queue.Cancel("test-nonexistent"));
        // The queue goes on: the cancelled job freed its slot and the skipped one never ran.
        var next = queue.Enqueue("test", "after", null, (_, _) => Task.FromResult<object?>("ok"));
        Assert.Equal("ok", (await FinalAsync(next)).Result);
        Assert.False(ran);
    }

    [Fact]
    public async Task A_failing_job_reports_the_error()
    {
        using var queue = await StartAsync();
        var job = queue.Enqueue("test", "broken", null, (_, _) => throw new InvalidDataException("line 3: missing 'output'"));
        var final = await FinalAsync(job);
        Assert.Equal(JobState.Failed, final.State);
        Assert.Equal("line 3: missing 'output'", final.Error);
        Assert.Equal("failed", final.Stage);
    }

    [Fact]
    public async Task A_restarted_queue_lists_the_last_run_s_jobs_and_marks_the_interrupted_ones()
    {
        // The first "server": one job finished, one running and one queued when it is killed (never disposed).
        var first = await StartAsync(concurrent: 1);
        var done = first.Enqueue("ingest", "finished", "kb", (_, _) => Task.FromResult<object?>(new { added = 3, files = new[] { "a.md" } }));
        await FinalAsync(done);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = first.Enqueue("tune", "running", null, async (_, _) => { await hold.Task; return null; });
        while (running.State != JobState.Running) await Task.Delay(10);
        var waiting = first.Enqueue("compare", "waiting", null, (_, _) => Task.FromResult<object?>(null));
        var jobs = Path.Combine(_dir.File("data"), "jobs");
        File.WriteAllText(Path.Combine(jobs, "half-written.json.tmp"), "{\"id\":"); // a write a kill cut short
        File.WriteAllText(Path.Combine(jobs, "garbage.json"), "not json");

        var later = new JobQueue(Options(), NullLogger<JobQueue>.Instance);
        var listed = later.List().Select(j => j.Snapshot()).ToList();
        Assert.Equal([done.Id, running.Id, waiting.Id], listed.Select(s => s.Id));
        Assert.Equal(JobState.Succeeded, listed[0].State);
        Assert.Equal(3, ((JsonElement)listed[0].Result!).GetProperty("added").GetInt32());
        Assert.Equal((JobState.Failed, JobJournal.InterruptedError(JobState.Running)), (listed[1].State, listed[1].Error));
        Assert.Equal((JobState.Failed, JobJournal.InterruptedError(JobState.Queued)), (listed[2].State, listed[2].Error));
        Assert.All(listed, s => Assert.True(s.IsFinal && s.Finished != null));
        Assert.False(File.Exists(Path.Combine(jobs, "half-written.json.tmp")));
        Assert.True(File.Exists(Path.Combine(jobs, "garbage.json"))); // left for a person to look at, not deleted
        Assert.False(later.Cancel(running.Id)); // a record, not a job that can run

        // A third start reads the rewritten records the same way.
        var third = new JobQueue(Options(), NullLogger<JobQueue>.Instance);
        Assert.Equal(listed.Select(s => (s.Id, s.State, s.Error)), third.List().Select(j => j.Snapshot()).Select(s => (s.Id, s.State, s.Error)));
        hold.SetResult();
        await first.StopAsync(CancellationToken.None);
        first.Dispose();
        later.Dispose();
        third.Dispose();
    }
}
