using Microsoft.Extensions.VectorData;
using RagTune.Samples.VectorSearch;
using RagTune.VectorData;

// dotnet run --project samples/RagTune.Samples.VectorSearch [data-dir]
// Writes a small handbook into a RagTune collection, then searches it three ways through the abstraction.
var dataDir = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "ragtune-vectorsearch-sample");
using VectorStore store = new RagTuneVectorStore(new RagTuneVectorStoreOptions { DataDirectory = dataDir, EmbeddingGenerator = new WordHashEmbedder() });
await Handbook.RunAsync(store, Console.Out);
Console.WriteLine($"(the collection is {Path.Combine(dataDir, "collections", Handbook.CollectionName + ".db")}; 'ragtune search --data-dir {dataDir} -c {Handbook.CollectionName} <query>' reads it too)");
