using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RagTune.Hosting.Jobs;




/// <summary>
/// Runs jobs in the background, at most <see cref="RagTuneOptions.MaxConcurrentJobs"/> at once, the rest waiting in
/// order (at most <see cref="RagTuneOptions.MaxQueuedJobs"/>). Finished jobs are kept for status queries and late
/// subscribers up to <see cref="RagTuneOptions.RetainedJobs"/>. Every job's state is kept in a
/// <see cref="JobJournal"/> under the data directory, so after a restart (or a kill) the list still shows the jobs of
/// the last run, those it interrupted marked so.
/// </summary>
public sealed class JobQueue : BackgroundService
{
    private readonly RagTuneOptions options;
    private readonly ILogger<JobQueue> log;
    private readonly JobJournal _journal;
    private readonly Channel<Job> _pending = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = false });
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Job> _order = new();
    private int _queued, _running;

    /// <summary>The queue of one host, restoring the finished jobs its journal recorded in an earlier run.</summary>
    public JobQueue(RagTuneOptions options, ILogger<JobQueue> log)
    {
        this.options = options;
        this.log = log;
        _journal = new JobJournal(options.JobsDirectory, log);
        foreach (var snapshot in _journal.Load())
        {
            var job = Job.Restored(snapshot);
            _jobs[job.Id] = job;
            _order.Enqueue(job);
        }
        Trim();
    }

    /// <summary>Queues <paramref name="work"/> as a new job; it returns the job's result (any JSON-serialisable object).</summary>
    /// <exception cref="HostingException">The queue is full (<see cref="HostingFailure.Busy"/>).</exception>
    public Job Enqueue(string kind, string title, string? target, Func<Job, CancellationToken, Task<object?>> work, string? id = null)
    {
        if (Interlocked.Increment(ref _queued) > options.MaxQueuedJobs + options.MaxConcurrentJobs - Running)
        {
            Interlocked.Decrement(ref _queued);
            throw new HostingException(HostingFailure.Busy,
                $"The job queue is full ({options.MaxQueuedJobs} waiting, RagTune:MaxQueuedJobs); retry when a job has finished.");
        }
        var job = new Job(id ?? NewId(kind), kind, title, target, work) { Recorder = _journal.Write };
        _jobs[job.Id] = job;
        _order.Enqueue(job);
        Trim();
        _journal.Write(job.Snapshot());
        _pending.Writer.TryWrite(job);
        log.LogInformation("Job {JobId} queued: {Title}", job.Id, title);
        return job;
    }

    /// <summary>A fresh job id such as <c>tune-1f3a…</c>, for work that must know its id before it is queued.</summary>
    public static string NewId(string kind) => kind + "-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>True while a queued or running job of <paramref name="kind"/> works on <paramref name="target"/>.</summary>
    public bool IsBusy(string kind, string target) =>
        _jobs.Values.Any(j => j.Kind == kind && j.Target == target && j.State is JobState.Queued or JobState.Running);

    /// <summary>The retained job <paramref name="id"/>, or null.</summary>
    public Job? Get(string id) => _jobs.TryGetValue(id, out var job) ? job : null;

    /// <summary>Every retained job, oldest first.</summary>
    public IReadOnlyList<Job> List() => [.. _order.Where(j => _jobs.ContainsKey(j.Id))];

    /// <summary>Cancels a queued or running job; false when it does not exist or has already finished.</summary>
    public bool Cancel(string id)
    {
        if (Get(id) is not { } job) return false;
        if (job.State is not (JobState.Queued or JobState.Running)) return false;
        job.Cancellation.Cancel();
        // A queued job is final at once; a running one when its work observes the token.
        if (job.CancelIfQueued()) Interlocked.Decrement(ref _queued);
        return true;
    }

    private int Running => Volatile.Read(ref _running);

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, options.MaxConcurrentJobs).Select(_ => Task.Run(() => WorkerAsync(stoppingToken), CancellationToken.None)));

    private async Task WorkerAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var job in _pending.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                if (!job.TryStart()) continue; // cancelled while it waited (already uncounted)
                Interlocked.Decrement(ref _queued);
                Interlocked.Increment(ref _running);
                try
                {
                    await RunAsync(job, stoppingToken).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref _running);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunAsync(Job job, CancellationToken stoppingToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(job.Cancellation.Token, stoppingToken);
        try
        {
            // The work may be CPU-bound and synchronous (training): keep it off this worker's continuation.
            var result = await Task.Run(() => job.Work(job, linked.Token), CancellationToken.None).ConfigureAwait(false);
            job.Succeed(result);
            log.LogInformation("Job {JobId} succeeded", job.Id);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            job.MarkCancelled();
            log.LogInformation("Job {JobId} cancelled", job.Id);
        }
        catch (Exception e)
        {
            job.Fail(e.Message);
            log.LogWarning(e, "Job {JobId} failed", job.Id);
        }
    }

    private void Trim()
    {
        while (_order.Count > options.RetainedJobs && _order.TryPeek(out var oldest) && oldest.Snapshot().IsFinal && _order.TryDequeue(out oldest))
        {
            _jobs.TryRemove(oldest.Id, out _);
            _journal.Delete(oldest.Id);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        foreach (var job in _jobs.Values) job.Cancellation.Dispose();
        base.Dispose();
    }
}
