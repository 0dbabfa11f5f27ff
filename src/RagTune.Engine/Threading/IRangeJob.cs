namespace RagTune.Engine.Threading;

/// <summary>
/// A piece of parallel work over an index range, run by <see cref="KernelThreadPool.For"/>. Implemented by
/// cached job objects (a class instance reused across calls) so that dispatching work allocates nothing.
/// </summary>
internal interface IRangeJob
{
    /// <summary>Processes indices [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void Execute(int start, int end);
}
