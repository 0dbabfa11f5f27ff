using RagTune.Rag.Ingestion;
using RagTune.Rag.Tests.Fakes;
using RagTune.TestKit;

namespace RagTune.Rag.Tests.Ingestion;

public sealed class IngestPipelineTests
{
    private static IngestOptions Options(string root, bool sync = false) => new() { BaseDirectory = root, Sync = sync, BatchSize = 2, EmbedBatchSize = 3 };

    [Fact]
    public async Task Reingest_touches_only_changed_documents_and_sync_deletes_vanished_ones()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("docs/sub"));
        File.WriteAllText(dir.File("docs/a.md"), "# A\n\nApples are red.");
        File.WriteAllText(dir.File("docs/b.txt"), "Bananas are yellow.");
        File.WriteAllText(dir.File("docs/sub/c.txt"), "Cherries are dark red.");
        File.WriteAllText(dir.File("docs/skip.bin"), "not supported");
        using var store = new InMemoryChunkStore();
        var embedder = new HashingEmbedder();
        var progress = new List<IngestProgress>();
        var first = await new IngestPipeline(store, embedder, Options(dir.Path)).RunAsync(["docs"], new SyncProgress(progress), CancellationToken.None);
        Assert.Equal((3, 0, 0, 0), (first.Added, first.Updated, first.Unchanged, first.Deleted));
        Assert.Empty(first.Failed);
        Assert.Equal(["a.md", "b.txt", "sub/c.txt"], store.DocumentIds.Order(StringComparer.Ordinal));
        Assert.Equal(new Rag.Store.EmbeddingInfo("hash-64", 64), store.Embedding);
        Assert.All(embedder.BatchSizes, s => Assert.True(s <= 3));
        Assert.Contains(progress, p => p.Stage == "embed");
        Assert.Contains(progress, p => p.Stage == "write" && p.Done == 3 && p.Total == 3);

        store.WrittenBatches.Clear();
        File.WriteAllText(dir.File("docs/b.txt"), "Bananas are yellow and curved.");
        File.Delete(dir.File("docs/sub/c.txt"));
        var second = await new IngestPipeline(store, embedder, Options(dir.Path)).RunAsync(["docs"], null, CancellationToken.None);
        Assert.Equal((0, 1, 1, 0), (second.Added, second.Updated, second.Unchanged, second.Deleted));
        Assert.Equal(["b.txt"], store.WrittenBatches.SelectMany(b => b));
        Assert.Contains("sub/c.txt", store.DocumentIds);

        var third = await new IngestPipeline(store, embedder, Options(dir.Path, sync: true)).RunAsync(["docs"], null, CancellationToken.None);
        Assert.Equal((0, 0, 2, 1), (third.Added, third.Updated, third.Unchanged, third.Deleted));
        Assert.DoesNotContain("sub/c.txt", store.DocumentIds);
    }

    [Fact]
    public async Task Sync_only_deletes_inside_the_given_roots()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("one"));
        Directory.CreateDirectory(dir.File("two"));
        File.WriteAllText(dir.File("one/x.txt"), "One x.");
        File.WriteAllText(dir.File("two/y.txt"), "Two y.");
        using var store = new InMemoryChunkStore();
        await new IngestPipeline(store, null, Options(dir.Path)).RunAsync(["one", "two"], null, CancellationToken.None);
        var summary = await new IngestPipeline(store, null, Options(dir.Path, sync: true)).RunAsync(["one"], null, CancellationToken.None);
        Assert.Equal(0, summary.Deleted);
        Assert.Equal(2, store.DocumentIds.Count);
    }

    [Fact]
    public async Task A_failed_file_does_not_stop_the_others()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("good1.txt"), "Good one.");
        File.WriteAllBytes(dir.File("bad.docx"), [1, 2, 3, 4]);
        File.WriteAllText(dir.File("bad.jsonl"), "{\"text\":\"ok\"}\n{oops\n");
        File.WriteAllText(dir.File("good2.md"), "# Two\n\nGood two.");
        using var store = new InMemoryChunkStore();
        var summary = await new IngestPipeline(store, null, Options(dir.Path)).RunAsync([dir.Path, "missing-dir"], null, CancellationToken.None);
        Assert.Equal(2, summary.Added);
        Assert.Equal(3, summary.Failed.Count);
        Assert.Contains(summary.Failed, f => f.Source.EndsWith("bad.docx", StringComparison.Ordinal));
        Assert.Contains(summary.Failed, f => f.Reason.Contains("line 2", StringComparison.Ordinal));
        Assert.Contains(summary.Failed, f => f.Source == "missing-dir");
    }

    [Fact]
    public async Task Refuses_a_different_embedding_model()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("a.txt"), "Alpha.");
        using var store = new InMemoryChunkStore();
        await new IngestPipeline(store, new HashingEmbedder("model-a"), Options(dir.Path)).RunAsync(["a.txt"], null, CancellationToken.None);
        var e = await Assert.ThrowsAsync<EmbeddingMismatchException>(() =>
            new IngestPipeline(store, new HashingEmbedder("model-b"), Options(dir.Path)).RunAsync(["a.txt"], null, CancellationToken.None));
        Assert.Contains("model-a", e.Message);
        Assert.Contains("re-embed", e.Message);
    }

    [Fact]
    public void Globs_expand_in_stable_order_with_relative_ids()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("d/e"));
        Directory.CreateDirectory(dir.File("d/.git"));
        foreach (var f in new[] { "d/b.md", "d/a.md", "d/e/c.md", "d/e/c.txt", "d/.git/x.md", "d/q1.md", "d/q22.md" }) File.WriteAllText(dir.File(f), "x");
        var all = SourceEnumerator.Expand(["d/**/*.md"], dir.Path);
        Assert.Equal(["a.md", "b.md", "e/c.md", "q1.md", "q22.md"], all.Files.Select(f => f.Id));
        Assert.Equal(["q1.md"], SourceEnumerator.Expand(["d/q?.md"], dir.Path).Files.Select(f => f.Id));
        Assert.Equal(["a.md", "b.md", "e/c.md", "e/c.txt", "q1.md", "q22.md"], SourceEnumerator.Expand(["d"], dir.Path).Files.Select(f => f.Id));
        Assert.True(SourceEnumerator.GlobMatch("**/*.md", "x.md"));
        Assert.False(SourceEnumerator.GlobMatch("*.md", "e/x.md"));
    }

    private sealed class SyncProgress(List<IngestProgress> list) : IProgress<IngestProgress>
    {
        public void Report(IngestProgress value) => list.Add(value);
    }
}
