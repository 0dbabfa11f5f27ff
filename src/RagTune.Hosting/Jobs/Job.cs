namespace RagTune.Hosting.Jobs;

/// <summary>
/// A long-running piece of work (ingestion, fine-tuning) with observable progress. The work runs on
/// <see cref="JobQueue"/>'s workers, never on a request, so a client that disconnects changes nothing; any number
/// of subscribers wait for changes with <see cref="WaitForChangeAsync"/> and read <see cref="Snapshot"/>.
/// </summary>
public sealed class Job
{
    private readonly object _lock = new();
    private readonly List<LossSample> _points = [];
    private TaskCompletionSource _changed = NewSignal();
    private JobState _state = JobState.Queued;
    private string _stage = "queued";
    private int _done, _total;
    private double? _loss, _valLoss, _eta;
    private string? _message, _error;
    private DateTimeOffset? _started, _finished;
    private object? _result;
    private long _version;

    /// <summary>A queued job: <paramref name="work"/> runs when a worker takes it, with the job (to report progress) and its cancellation token.</summary>
    public Job(string id, string kind, string title, string? target, Func<Job, CancellationToken, Task<object?>> work)
    {
        Id = id;
        Kind = kind;
        Title = title;
        Target = target;
        Work = work;
    }

    /// <summary>A job of an earlier run, as its <see cref="JobJournal"/> record left it: final, with nothing to run.</summary>
    internal static Job Restored(JobSnapshot s)
    {
        var job = new Job(s.Id, s.Kind, s.Title, null, (_, _) => throw new InvalidOperationException($"Job '{s.Id}' is a record of an earlier run and cannot run again."))
        {
            Created = s.Created,
        };
        job._state = s.State;
        job._stage = s.Stage;
        (job._done, job._total) = (s.Done, s.Total);
        (job._loss, job._valLoss) = (s.Loss, s.ValLoss);
        (job._message, job._error, job._result) = (s.Message, s.Error, s.Result);
        (job._started, job._finished) = (s.Started, s.Finished);
        job._version = s.Version;
        return job;
    }

    /// <summary>The job's id, as requests name it.</summary>
    public string Id { get; }

    /// <summary>What the job does (ingest, tune, compare, …).</summary>
    public string Kind { get; }

    /// <summary>A short description for lists and logs.</summary>
    public string Title { get; }

    /// <summary>What the job works on (a collection name), so conflicting requests can be refused.</summary>
    public string? Target { get; }

    /// <summary>When the job was queued.</summary>
    public DateTimeOffset Created { get; private init; } = DateTimeOffset.UtcNow;

    internal Func<Job, CancellationToken, Task<object?>> Work { get; }

    /// <summary>
    /// Called with the job's snapshot at each change of state (started, finished), before anyone waiting sees the
    /// change: whoever observes a final job can rely on its record being written (<see cref="JobJournal"/>).
    /// </summary>
    internal Action<JobSnapshot>? Recorder { get; init; }

    /// <summary>Cancelled by <see cref="JobQueue.Cancel"/>; the work observes it through its token.</summary>
    internal CancellationTokenSource Cancellation { get; } = new();

    /// <summary>Where the job is: queued, running, or finished (succeeded, failed, cancelled).</summary>
    public JobState State
    {
        get { lock (_lock) return _state; }
    }

    /// <summary>
    /// Sets the current stage and its counts; <paramref name="eta"/> when the work can estimate it, and the current
    /// <paramref name="loss"/> of work that trains without keeping a curve on the job (a new stage clears it).
    /// </summary>
    public void Report(string stage, int done, int total, TimeSpan? eta = null, string? message = null, double? loss = null, double? valLoss = null)
    {
        Change(() =>
        {
            if (stage != _stage && _points.Count == 0) (_loss, _valLoss) = (null, null);
            if (loss != null) _loss = loss;
            if (valLoss != null) _valLoss = valLoss;
            _stage = stage;
            _done = done;
            _total = total;
            _eta = eta?.TotalSeconds;
            if (message != null) _message = message;
        });
    }

    /// <summary>Appends a training-curve point and makes it the current loss.</summary>
    public void AddPoint(LossSample point)
    {
        Change(() =>
        {
            _points.Add(point);
            _loss = point.TrainLoss;
            if (point.ValLoss is { } v) _valLoss = v;
        });
    }

    /// <summary>The curve points from index <paramref name="from"/> on (all of them for 0).</summary>
    public IReadOnlyList<LossSample> PointsFrom(int from)
    {
        lock (_lock) return from >= _points.Count ? [] : _points.GetRange(from, _points.Count - from);
    }

    /// <summary>The job's state, progress and result as of now, consistent with each other.</summary>
    public JobSnapshot Snapshot()
    {
        lock (_lock) return SnapshotLocked();
    }

    private JobSnapshot SnapshotLocked() =>
        new(Id, Kind, Title, _state, _stage, _done, _total, _loss, _valLoss, _eta, _message, _error,
            Created, _started, _finished, _version, _points.Count, _result);

    /// <summary>Completes when the job's version differs from <paramref name="seenVersion"/> (at once if it already does).</summary>
    public Task WaitForChangeAsync(long seenVersion, CancellationToken ct)
    {
        Task signal;
        lock (_lock)
        {
            if (_version != seenVersion) return Task.CompletedTask;
            signal = _changed.Task;
        }
        return signal.WaitAsync(ct);
    }

    internal bool TryStart()
    {
        bool started = false;
        Change(() =>
        {
            if (_state != JobState.Queued) return false;
            _state = JobState.Running;
            _stage = "starting";
            _started = DateTimeOffset.UtcNow;
            started = true;
            return true;
        });
        return started;
    }

    internal void Succeed(object? result) => Finish(JobState.Succeeded, result, null);

    internal void Fail(string error) => Finish(JobState.Failed, null, error);

    /// <summary>Marks the job cancelled; false when it had already finished.</summary>
    internal bool MarkCancelled() => Finish(JobState.Cancelled, null, null);

    /// <summary>Cancels the job only if no worker has started it; false otherwise.</summary>
    internal bool CancelIfQueued() => Finish(JobState.Cancelled, null, null, onlyIfQueued: true);

    private bool Finish(JobState state, object? result, string? error, bool onlyIfQueued = false)
    {
        bool finished = false;
        Change(() =>
        {
            if (_state is JobState.Succeeded or JobState.Failed or JobState.Cancelled) return false;
            if (onlyIfQueued && _state != JobState.Queued) return false;
            _state = state;
            _stage = state switch { JobState.Succeeded => "done", JobState.Failed => "failed", _ => "cancelled" };
            _result = result;
            _error = error;
            _eta = null;
            _finished = DateTimeOffset.UtcNow;
            finished = true;
            return true;
        });
        return finished;
    }

    private void Change(Action update) => Change(() =>
    {
        update();
        return false;
    });

    /// <summary>Applies <paramref name="update"/>; when it returns true (the state changed) the job is recorded first.</summary>
    private void Change(Func<bool> update)
    {
        TaskCompletionSource fired;
        lock (_lock)
        {
            long before = _version;
            bool transition = update();
            _version = before + 1;
            // Under the lock, so that records of two transitions are written in their order.
            if (transition) Recorder?.Invoke(SnapshotLocked());
            fired = _changed;
            _changed = NewSignal();
        }
        fired.TrySetResult();
    }

    // Continuations run on the thread pool, never inline on the worker that reported progress.
    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
