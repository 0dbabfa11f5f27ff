using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace RagTune.Engine.Threading;

/// <summary>
/// A fixed set of worker threads for the engine's kernels (the role of ggml's threadpool / llama2.c's OpenMP
/// `parallel for`). <see cref="For"/> splits [0, count) into one contiguous chunk per thread; the calling thread
/// runs the first chunk itself, so <c>threads = 2</c> means one extra worker.
/// </summary>
/// <remarks>
/// Decoding calls <see cref="For"/> about a hundred times per token, so waking the workers must take
/// microseconds, not the tens of microseconds an OS event takes: idle workers spin on a generation counter for
/// <see cref="DefaultSpinMicroseconds"/> (configurable) and only then block on an event (so an idle pool burns no core). Nothing is
/// allocated per call: the job is a cached object, the split is computed from integers, and the only
/// synchronisation objects are created in the constructor.
/// Not re-entrant: a <see cref="For"/> issued from inside a job, or from a second thread while one is running,
/// runs inline on its calling thread (correct, just not parallel).
/// </remarks>
internal sealed class KernelThreadPool : IDisposable
{
    /// <summary>
    /// Default time an idle worker (and a caller waiting for stragglers) spins before blocking: longer than the
    /// gap between two kernels of a decode step (a norm, a RoPE), far shorter than the gap between tokens.
    /// </summary>
    public const int DefaultSpinMicroseconds = 50;

    private readonly Worker[] _workers;          // [Threads - 1]; the caller is thread 0
    private readonly long _spinTicks;
    private readonly ManualResetEventSlim _allDone = new(false, spinCount: 1);

    // The published job. Written by the caller before _generation is bumped, read by workers after they see it.
    private IRangeJob? _job;
    private int _count;
    private int _grain;
    private long _generation;
    private int _pending;                        // workers still running the current generation
    private Exception? _error;                   // first exception thrown by a worker in this generation
    private int _busy;                           // 1 while a For is in flight (re-entrancy guard)
    private volatile bool _disposed;

    /// <param name="threads">Threads sharing the work, the caller included; 1 runs every job inline.</param>
    /// <param name="spinMicroseconds">How long idle threads spin before blocking; 0 blocks at once.</param>
    public KernelThreadPool(int threads, int spinMicroseconds = DefaultSpinMicroseconds)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "A kernel thread pool needs at least one thread (1 runs everything inline).");
        ArgumentOutOfRangeException.ThrowIfNegative(spinMicroseconds);
        Threads = threads;
        _spinTicks = Math.Max(1, Stopwatch.Frequency * spinMicroseconds / 1_000_000);
        _workers = new Worker[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            var w = new Worker(this, i + 1);
            _workers[i] = w;
            w.Thread.Start();
        }
    }

    /// <summary>Number of threads that share the work, the calling thread included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Bytes allocated so far by the worker threads (as of their last finished chunk). Tests add this to the
    /// calling thread's <see cref="GC.GetAllocatedBytesForCurrentThread"/> to prove a kernel allocates nothing,
    /// without the noise of process-wide counters.
    /// </summary>
    public long WorkerAllocatedBytes
    {
        get
        {
            long sum = 0;
            foreach (var w in _workers) sum += Volatile.Read(ref w.AllocatedBytes);
            return sum;
        }
    }

    /// <summary>
    /// Runs <paramref name="job"/> over [0, <paramref name="count"/>) split into contiguous chunks whose
    /// boundaries are multiples of <paramref name="grain"/>, one chunk per thread (empty chunks are not run).
    /// Returns when every chunk is done; the first exception thrown by any chunk is rethrown here.
    /// </summary>
    public void For(int count, IRangeJob job, int grain = 1)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (count <= 0) return;
        if (grain < 1) grain = 1;
        ObjectDisposedException.ThrowIf(_disposed, this);

        int units = (count + grain - 1) / grain;
        if (_workers.Length == 0 || units == 1 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            job.Execute(0, count);
            return;
        }

        try
        {
            _job = job;
            _count = count;
            _grain = grain;
            _error = null;
            _allDone.Reset();
            Volatile.Write(ref _pending, _workers.Length);
            Interlocked.Increment(ref _generation);  // full fence: publishes the fields above
            foreach (var w in _workers)
                if (Volatile.Read(ref w.Sleeping) != 0) w.Wake.Set();

            Exception? own = null;
            try
            {
                var (s, e) = Chunk(0);
                if (s < e) job.Execute(s, e);
            }
            catch (Exception ex)
            {
                own = ex;  // keep going: the workers still use the job's buffers, so wait for them first
            }

            WaitForWorkers();
            _job = null;
            var error = own ?? _error;
            if (error is not null) ExceptionDispatchInfo.Capture(error).Throw();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>The chunk of thread <paramref name="index"/>: units split as evenly as integers allow.</summary>
    private (int Start, int End) Chunk(int index)
    {
        int units = (_count + _grain - 1) / _grain;
        long u0 = (long)units * index / Threads;
        long u1 = (long)units * (index + 1) / Threads;
        int start = (int)Math.Min(_count, u0 * _grain);
        int end = (int)Math.Min(_count, u1 * _grain);
        return (start, end);
    }

    private void WaitForWorkers()
    {
        long deadline = Stopwatch.GetTimestamp() + _spinTicks;
        while (Volatile.Read(ref _pending) != 0)
        {
            if (Stopwatch.GetTimestamp() <= deadline)
            {
                Thread.SpinWait(8);
                continue;
            }
            // The last worker of the previous generation may have set _allDone after this call's Reset (it sets it
            // after its decrement, which the previous caller may already have seen). So a wake-up proves nothing:
            // re-check _pending, and clear a stale signal before waiting again.
            _allDone.Wait();
            if (Volatile.Read(ref _pending) != 0) _allDone.Reset();
        }
    }

    private void RunWorker(Worker self)
    {
        long seen = 0;
        while (true)
        {
            // Spin first: the next For usually comes within microseconds while decoding.
            long deadline = Stopwatch.GetTimestamp() + _spinTicks;
            long gen;
            while ((gen = Volatile.Read(ref _generation)) == seen)
            {
                Thread.SpinWait(8);
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    // Announce that we sleep, then re-check: the caller bumps _generation before it reads Sleeping,
                    // so either it sees Sleeping = 1 and sets Wake, or we see the new generation here.
                    self.Wake.Reset();
                    Interlocked.Exchange(ref self.Sleeping, 1);
                    if (Volatile.Read(ref _generation) == seen) self.Wake.Wait();
                    Volatile.Write(ref self.Sleeping, 0);
                    deadline = Stopwatch.GetTimestamp() + _spinTicks;
                }
            }
            seen = gen;
            if (_disposed) return;

            try
            {
                var (s, e) = Chunk(self.Index);
                if (s < e) _job!.Execute(s, e);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _error, ex, null);
            }

            Volatile.Write(ref self.AllocatedBytes, GC.GetAllocatedBytesForCurrentThread());
            if (Interlocked.Decrement(ref _pending) == 0) _allDone.Set();
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Interlocked.Increment(ref _generation);
        foreach (var w in _workers) w.Wake.Set();
        foreach (var w in _workers)
        {
            w.Thread.Join();
            w.Wake.Dispose();
        }
        _allDone.Dispose();
    }

    private sealed class Worker
    {
        public readonly int Index;
        public readonly Thread Thread;
        public readonly ManualResetEventSlim Wake = new(false, spinCount: 1);
        public int Sleeping;
        public long AllocatedBytes;

        public Worker(KernelThreadPool pool, int index)
        {
            Index = index;
            Thread = new Thread(() => pool.RunWorker(this))
            {
                IsBackground = true,
                Name = $"RagTune kernel worker {index}",
            };
        }
    }
}
