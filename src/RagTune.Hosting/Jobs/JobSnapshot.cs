namespace RagTune.Hosting.Jobs;

/// <summary>Where a job is in its life. Succeeded, Failed and Cancelled are final.</summary>
public enum JobState
{
    /// <summary>Waiting for a free slot.</summary>
    Queued,

    /// <summary>Running on the background service.</summary>
    Running,

    /// <summary>Finished; <see cref="JobSnapshot.Result"/> holds what it produced.</summary>
    Succeeded,

    /// <summary>Stopped by an error; <see cref="JobSnapshot.Error"/> says which.</summary>
    Failed,

    /// <summary>Cancelled by a user (queued or running).</summary>
    Cancelled,
}

/// <summary>
/// One job's state at one moment, as sent to clients. <paramref name="Done"/> of <paramref name="Total"/> items of
/// the current <paramref name="Stage"/>; <paramref name="Version"/> grows with every change, so a subscriber knows
/// whether it has seen a state.
/// </summary>
public sealed record JobSnapshot(
    string Id, string Kind, string Title, JobState State, string Stage, int Done, int Total,
    double? Loss, double? ValLoss, double? EtaSeconds, string? Message, string? Error,
    DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished, long Version, int Points, object? Result)
{
    /// <summary>True when the job will not change any more.</summary>
    public bool IsFinal => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}

/// <summary>One point of a training curve: the training loss at a step, and the validation loss when it was measured there.</summary>
public sealed record LossSample(int Step, int Epoch, double TrainLoss, double? ValLoss, double LearningRate);
