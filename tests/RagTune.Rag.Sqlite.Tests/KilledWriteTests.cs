using System.Diagnostics;
using Microsoft.Data.Sqlite;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Rag.Sqlite.Tests;

/// <summary>A writer process killed hard (no cleanup at all) in the middle of a batch.</summary>
public sealed class KilledWriteTests
{
    private const int Batches = 14;

    [Fact]
    public async Task A_writer_killed_mid_batch_leaves_whole_batches_and_a_rerun_completes_the_collection()
    {
        using var dir = new TempDir();
        int committed = RunAndKill(dir.Path, killAfterCommits: 3);
        Assert.InRange(committed, 3, Batches - 1);

        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        using (var store = SqliteChunkStore.Open("killed", options, create: false))
        {
            var stats = await store.GetStatsAsync();
            Assert.Equal(0, stats.Documents % Program.DocsPerBatch);          // whole batches only
            Assert.InRange(stats.Documents / Program.DocsPerBatch, committed, Batches); // it may commit more before the kill lands
            Assert.Equal(stats.Documents * Program.ChunksPerDoc, stats.Chunks);
            Assert.Equal(stats.Chunks, stats.EmbeddedChunks);
            Assert.All((await store.GetDocumentStatesAsync()).Values, s => Assert.Equal(Program.ChunksPerDoc, s.ChunkCount));
            SqliteChunkStoreTests.AssertFtsConsistent(store.FilePath);
        }

        var rerun = Start(dir.Path);
        Assert.True(rerun.WaitForExit(TimeSpan.FromSeconds(60)), "the re-run did not finish");
        Assert.Equal(0, rerun.ExitCode);

        using var done = SqliteChunkStore.Open("killed", options, create: false);
        var final = await done.GetStatsAsync();
        Assert.Equal(Batches * Program.DocsPerBatch, final.Documents);
        Assert.Equal(final.Documents * Program.ChunksPerDoc, final.Chunks);
        Assert.Equal(final.Chunks, final.EmbeddedChunks);
        SqliteChunkStoreTests.AssertFtsConsistent(done.FilePath);
        // Every batch is findable, and every vector is the one written for its chunk.
        for (int b = 0; b < Batches; b++)
            Assert.Equal(Program.DocsPerBatch * Program.ChunksPerDoc, (await done.SearchKeywordAsync($"batch{b}", 10_000, SearchFilter.None)).Count);
        var probe = Program.KillWrite(5, 7);
        var hit = (await done.SearchVectorAsync(probe.Embeddings![3], 1, SearchFilter.None))[0];
        Assert.Equal(("b005-d07", 3), (hit.Chunk.DocumentId, hit.Chunk.Chunk.Index));
        Assert.Equal(1.0, hit.Score, 1e-5);
    }

    private static int RunAndKill(string dataDir, int killAfterCommits)
    {
        using var p = Start(dataDir);
        int committed = 0;
        var deadline = Stopwatch.StartNew();
        while (committed < killAfterCommits)
        {
            var line = p.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the writer exited early: " + p.StandardError.ReadToEnd());
            if (line.StartsWith("committed", StringComparison.Ordinal)) committed++;
            if (deadline.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("the writer is too slow");
        }
        // The writer goes straight on to the next batch: kill it while that transaction is open.
        Thread.Sleep(15);
        p.Kill(entireProcessTree: true);
        p.WaitForExit();
        SqliteConnection.ClearAllPools();
        return committed;
    }

    private static Process Start(string dataDir)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "RagTune.Rag.Sqlite.Tests.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { dll, "write-loop", dataDir, Batches.ToString(System.Globalization.CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}
