using Microsoft.Data.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Rag.Sqlite;

/// <summary>The collections of one data directory, one SQLite file each: <c>&lt;data&gt;/collections/&lt;name&gt;.db</c>.</summary>
public sealed class SqliteCollections(SqliteStoreOptions options) : ICollectionCatalog
{
    /// <summary>The data directory and search settings every collection of this catalog is opened with.</summary>
    public SqliteStoreOptions Options { get; } = options;

    /// <summary>The collections folder.</summary>
    public string Location => Options.CollectionsDirectory;

    /// <inheritdoc />
    public string FormatName => SqliteSchema.FormatName;

    /// <summary>Names of the collection files present (valid names only), sorted.</summary>
    public IReadOnlyList<string> List()
    {
        var dir = Options.CollectionsDirectory;
        if (!Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "*.db")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(CollectionNames.IsValid)
            .Order(StringComparer.Ordinal)
            .ToList()!;
    }

    /// <summary>True when the collection's file exists.</summary>
    public bool Exists(string name) => File.Exists(Options.CollectionPath(name));

    /// <summary>The collection's file.</summary>
    public string LocationOf(string name) => Options.CollectionPath(name);

    /// <inheritdoc />
    public ICollectionStore Open(string name, bool create) => SqliteChunkStore.Open(name, Options, create);

    /// <summary>Deletes the file and its -wal, -shm and -journal files without checking what it is, then creates the collection.</summary>
    public ICollectionStore Recreate(string name)
    {
        var path = Options.CollectionPath(name);
        SqliteConnection.ClearAllPools(); // a pooled connection keeps the old file open, and the new store would read it
        foreach (var f in new[] { path, path + "-wal", path + "-shm", path + "-journal" })
            if (File.Exists(f)) File.Delete(f);
        return SqliteChunkStore.Open(name, Options);
    }

    /// <summary>
    /// Opens the collection file at <paramref name="path"/> (wherever it is, not by name in the collections folder) with
    /// this catalog's settings, creating it when absent; <paramref name="name"/> is the collection name it reports.
    /// </summary>
    /// <exception cref="CollectionFormatException">The file is not a RagTune collection, or is from a newer version.</exception>
    public ICollectionStore OpenFile(string path, string name) => SqliteChunkStore.OpenFile(name, path, Options);

    /// <summary>Counts and sizes of an existing collection.</summary>
    public async Task<CollectionStats> StatsAsync(string name, CancellationToken cancellationToken = default)
    {
        using var store = SqliteChunkStore.Open(name, Options, create: false);
        return await store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the collection's file and its -wal/-shm files. A file that is not a RagTune collection is refused.
    /// Returns false when there was none.
    /// </summary>
    public bool Delete(string name)
    {
        var path = Options.CollectionPath(name);
        if (!File.Exists(path)) return false;
        SqliteSchema.Check(path); // never delete a file we do not recognise
        SqliteConnection.ClearAllPools(); // pooled connections keep the file open
        foreach (var p in new[] { path + "-wal", path + "-shm", path })
            if (File.Exists(p)) File.Delete(p);
        return true;
    }
}
