using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Sqlite.Tests;

/// <summary>
/// Entry point of the test assembly when run as a child process: <c>write-loop &lt;data dir&gt; &lt;batches&gt;</c>
/// writes batches of documents (skipping those already stored, as an incremental ingest does) and prints
/// "committed N" after each commit, so a test can kill it hard in the middle of a batch.
/// </summary>
internal static class Program
{
    public const int DocsPerBatch = 40;
    public const int ChunksPerDoc = 12;
    public const int Dimensions = 32;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length != 3 || args[0] != "write-loop") return 2;
        using var store = SqliteChunkStore.Open("killed", new SqliteStoreOptions { DataDirectory = args[1] });
        int batches = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
        var existing = await store.GetDocumentStatesAsync();
        var info = new EmbeddingInfo("test-embed", Dimensions);
        for (int b = 0; b < batches; b++)
        {
            var batch = new List<DocumentWrite>();
            for (int d = 0; d < DocsPerBatch; d++)
            {
                var write = KillWrite(b, d);
                if (!existing.ContainsKey(write.Document.Id)) batch.Add(write);
            }
            if (batch.Count == 0) continue;
            await store.WriteBatchAsync(batch, info);
            Console.Out.WriteLine($"committed {b}");
            Console.Out.Flush();
        }
        Console.Out.WriteLine("done");
        return 0;
    }

    public static DocumentWrite KillWrite(int batch, int doc)
    {
        var rng = new Random(batch * 1000 + doc);
        var text = string.Join(". ", Enumerable.Range(0, ChunksPerDoc).Select(i => $"batch{batch} doc{doc} sentence{i} " + new string('x', 400)));
        var w = StoreData.Write($"b{batch:D3}-d{doc:D2}", text);
        return w with { Embeddings = w.Chunks.Select(_ => StoreData.RandomVector(rng, Dimensions)).ToList() };
    }
}
