using Microsoft.Extensions.Logging.Abstractions;
using RagTune.Hosting.Jobs;

namespace RagTune.Hosting.Tests.Jobs;

public sealed class JobQueueTests
{
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

    private static async Task<JobQueue> StartAsync(int concurrent = 1, int queued = 16)
    {
        var queue = new JobQueue(new RagTuneOptions { MaxConcurrentJobs = concurrent, MaxQueuedJobs = queued }, NullLogger<JobQueue>.Instance);
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
}
