using RagTune.Evaluation.Experiments;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Compare;

/// <summary>
/// Collections for a comparison: work collections live in the output folder (so a run never touches the user's data
/// directory and the folder holds everything it measured); existing collections are opened from the data directory.
/// </summary>
internal sealed class SqliteExperimentStores(string workDataDir, string? userDataDir) : IExperimentStores
{
    public IChunkStore CreateFresh(string name)
    {
        var options = new SqliteStoreOptions { DataDirectory = workDataDir };
        var path = options.CollectionPath(name);
        foreach (var f in new[] { path, path + "-wal", path + "-shm", path + "-journal" })
            if (File.Exists(f)) File.Delete(f);
        return SqliteChunkStore.Open(name, options);
    }

    public IChunkStore OpenExisting(string name) => SqliteChunkStore.Open(name, new SqliteStoreOptions { DataDirectory = userDataDir }, create: false);
}
