using RagTune.Engine.Threading;

namespace RagTune.Engine.Tests.Threading;

[Trait("Category", "Kernels")]
public sealed class KernelThreadPoolTests
{
    private sealed class CountingJob(int count, int grain) : IRangeJob
    {
        public readonly int[] Hits = new int[count];
        public int Chunks;

        public void Execute(int start, int end)
        {
            Interlocked.Increment(ref Chunks);
            Assert.True(start < end, $"empty chunk [{start},{end}) was run");
            Assert.True(start % grain == 0, $"chunk start {start} is not a multiple of grain {grain}");
            Assert.True(end % grain == 0 || end == Hits.Length, $"chunk end {end} is not a multiple of grain {grain}");
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void For_VisitsEveryIndexExactlyOnce(int threads)
    {
        using var pool = new KernelThreadPool(threads);
        Assert.Equal(threads, pool.Threads);
        foreach (int grain in new[] { 1, 3, 16 })
        {
            foreach (int count in new[] { 0, 1, 2, 3, 5, 7, 16, 17, 100, 1001, 4096 })
            {
                var job = new CountingJob(count, grain);
                pool.For(count, job, grain);
                for (int i = 0; i < count; i++)
                    Assert.True(job.Hits[i] == 1, $"threads {threads}, grain {grain}, count {count}: index {i} ran {job.Hits[i]} times");
                Assert.True(job.Chunks <= threads, $"{job.Chunks} chunks for {threads} threads");
            }
        }
    }

    [Fact]
    public void For_WorksAfterWorkersFellAsleep()
    {
        using var pool = new KernelThreadPool(2);
        for (int round = 0; round < 3; round++)
        {
            var job = new CountingJob(64, 1);
            pool.For(64, job);
            Assert.All(job.Hits, h => Assert.Equal(1, h));
            Assert.Equal(2, job.Chunks);
            Thread.Sleep(20);  // far past the spin window: the worker blocks, the next For must wake it
        }
    }

    private sealed class SlowWorkerJob : IRangeJob
    {
        public int Done;

        public void Execute(int start, int end)
        {
            if (start != 0) Thread.Sleep(1);  // workers outlast the caller's spin window, so it must block
            Interlocked.Add(ref Done, end - start);
        }
    }

    [Fact]
    public void For_ReturnsOnlyWhenSlowWorkersAreDone()
    {
        using var pool = new KernelThreadPool(3);
        var job = new SlowWorkerJob();
        for (int i = 0; i < 50; i++)
        {
            job.Done = 0;
            pool.For(30, job);
            Assert.Equal(30, Volatile.Read(ref job.Done));
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void For_WithoutSpinning_BlocksAndWakesCorrectly(int threads)
    {
        // spinMicroseconds = 0 sends every wait through the events, exercising the stale-signal paths.
        using var pool = new KernelThreadPool(threads, spinMicroseconds: 0);
        for (int i = 0; i < 2000; i++)
        {
            var job = new CountingJob(37, 1);
            pool.For(37, job);
            for (int j = 0; j < 37; j++) Assert.True(job.Hits[j] == 1, $"round {i}: index {j} ran {job.Hits[j]} times");
        }
    }

    private sealed class ThrowingJob(int throwAt) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            if (throwAt >= start && throwAt < end) throw new InvalidOperationException($"boom at {throwAt}");
        }
    }

    [Theory]
    [InlineData(0)]    // the caller's own chunk
    [InlineData(99)]   // the last worker's chunk
    public void For_RethrowsChunkExceptionsOnCaller(int throwAt)
    {
        using var pool = new KernelThreadPool(3);
        var ex = Assert.Throws<InvalidOperationException>(() => pool.For(100, new ThrowingJob(throwAt)));
        Assert.Equal($"boom at {throwAt}", ex.Message);

        var job = new CountingJob(100, 1);
        pool.For(100, job);  // still usable
        Assert.All(job.Hits, h => Assert.Equal(1, h));
    }

    private sealed class NestedJob(KernelThreadPool pool) : IRangeJob
    {
        public readonly CountingJob Inner = new(40, 1);

        public void Execute(int start, int end)
        {
            if (start == 0) pool.For(40, Inner);  // re-entrant call runs inline instead of deadlocking
        }
    }

    [Fact]
    public void For_FromInsideAJob_RunsInline()
    {
        using var pool = new KernelThreadPool(2);
        var job = new NestedJob(pool);
        pool.For(10, job);
        Assert.All(job.Inner.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void Dispose_StopsWorkers_AndLaterCallsThrow()
    {
        var pool = new KernelThreadPool(3);
        pool.For(10, new CountingJob(10, 1));
        pool.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.For(10, new CountingJob(10, 1)));
    }

    [Fact]
    public void Constructor_RejectsZeroThreads() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new KernelThreadPool(0));

}

/// <summary>Allocation checks run alone (process-wide counters would see other tests' allocations).</summary>
[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationCollection;

[Collection(nameof(AllocationTests))]
[Trait("Category", "Kernels")]
public sealed class AllocationTests
{
    private sealed class SumJob : IRangeJob
    {
        public long Sum;
        public void Execute(int start, int end)
        {
            long s = 0;
            for (int i = start; i < end; i++) s += i;
            Interlocked.Add(ref Sum, s);
        }
    }

    [Fact]
    public void PoolFor_AllocatesNothing() => PoolForAllocatesNothing();

    private sealed class AllocatingJob : IRangeJob
    {
        public object? Last;
        public void Execute(int start, int end) => Last = new byte[100];
    }

    [Fact]
    public void Probe_SeesAllocationsOnWorkers()
    {
        using var pool = new KernelThreadPool(3);
        var job = new AllocatingJob();
        Assert.True(AllocationProbe.Measure(pool, () => pool.For(3, job)) >= 3 * 100);
    }

    internal static void PoolForAllocatesNothing()
    {
        using var pool = new KernelThreadPool(2);
        var job = new SumJob();
        long delta = AllocationProbe.Measure(pool, () =>
        {
            for (int i = 0; i < 1000; i++) pool.For(1000, job, 16);
        });
        Assert.Equal(0, delta);
    }
}

/// <summary>
/// Bytes allocated by the calling thread and the pool's workers while <paramref name="action"/> runs (per-thread
/// counters: the test host allocates in the background, so process-wide totals are noisy). Warm-up runs until
/// tiered compilation has settled; the smallest delta of a few attempts is reported.
/// </summary>
internal static class AllocationProbe
{
    public static long Measure(KernelThreadPool pool, Action action, int attempts = 3)
    {
        var warm = System.Diagnostics.Stopwatch.StartNew();
        do action(); while (warm.ElapsedMilliseconds < 300);
        long best = long.MaxValue;
        for (int a = 0; a < attempts && best != 0; a++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread() + pool.WorkerAllocatedBytes;
            action();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() + pool.WorkerAllocatedBytes - before);
        }
        return best;
    }
}
