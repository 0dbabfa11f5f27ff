using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;
using RagTune.TestKit;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Sqlite.Tests;

/// <summary>The SQLite store for the contract tests: each catalog in a temporary data directory of its own.</summary>
internal sealed class SqliteBackend : StoreBackend
{
    private readonly List<TempDir> _dirs = [];

    /// <summary>A collection in <paramref name="dir"/> with default options.</summary>
    public static SqliteChunkStore Open(TempDir dir, string name = "test") =>
        SqliteChunkStore.Open(name, new SqliteStoreOptions { DataDirectory = dir.Path });

    public override ICollectionCatalog NewCatalog(bool referencePaths = false)
    {
        var dir = new TempDir();
        _dirs.Add(dir);
        return new SqliteCollections(new SqliteStoreOptions { DataDirectory = dir.Path, InMemoryKeywordIndex = !referencePaths, Int8VectorFilter = !referencePaths });
    }

    public override ICollectionCatalog Reopen(ICollectionCatalog catalog) => new SqliteCollections(((SqliteCollections)catalog).Options);

    public override int SchemaVersion => SqliteSchema.Version;

    public override void AssertConsistent(ICollectionStore store) => SqliteChunkStoreTests.AssertFtsConsistent(((SqliteChunkStore)store).FilePath);

    public override void Dispose()
    {
        foreach (var dir in _dirs) dir.Dispose();
    }
}

public sealed class SqliteStoreContractTests() : StoreContractTests(new SqliteBackend());

public sealed class SqliteCatalogContractTests() : CatalogContractTests(new SqliteBackend());

public sealed class SqliteReembedContractTests() : ReembedContractTests(new SqliteBackend());
