using RagTune.Rag.Store;

namespace RagTune.TestKit.Stores;

/// <summary>
/// A store as the contract tests (<see cref="StoreContractTests"/>, <see cref="CatalogContractTests"/>,
/// <see cref="ReembedContractTests"/>) see it: catalogs that start empty and that no other test touches. Each store's
/// test project subclasses the contract tests with its backend, so one set of tests runs against every store.
/// One backend per test (xunit makes a test class instance per test); disposing it removes what it made.
/// </summary>
internal abstract class StoreBackend : IDisposable
{
    /// <summary>
    /// An empty catalog of its own. With <paramref name="referencePaths"/> every fast search path is switched to its
    /// reference (the SQLite store: FTS5's <c>bm25()</c> and the float scan; PostgreSQL: the exact vector scan).
    /// </summary>
    public abstract ICollectionCatalog NewCatalog(bool referencePaths = false);

    /// <summary>A second catalog over the collections of <paramref name="catalog"/>, as another process opens them.</summary>
    public abstract ICollectionCatalog Reopen(ICollectionCatalog catalog);

    /// <summary>The schema version a new collection reports in its stats.</summary>
    public abstract int SchemaVersion { get; }

    /// <summary>True when vector search off the reference paths is approximate (HNSW) rather than exact.</summary>
    public virtual bool ApproximateVectorSearch => false;

    /// <summary>
    /// True when a filter on any metadata key, quotes and all, finds the documents that have it; false when the store
    /// refuses some keys (ArgumentException) or misses them.
    /// </summary>
    public virtual bool FindsAnyFilterKey => true;

    /// <summary>
    /// Batches the writer of <see cref="StoreContractTests.Readers_see_whole_batches_while_a_writer_runs"/> writes:
    /// as many as the store writes in a few seconds, so readers look many times while batches land.
    /// </summary>
    public virtual int ConcurrentWriterBatches => 30;

    /// <summary>The store's own checks of a collection's files or tables after writes and deletes (none by default).</summary>
    public virtual void AssertConsistent(ICollectionStore store)
    {
    }

    /// <inheritdoc />
    public virtual void Dispose()
    {
    }
}

/// <summary>What the contract test classes share: the backend of the test, disposed after it.</summary>
public abstract class StoreBackendTests : IDisposable
{
    private protected StoreBackendTests(StoreBackend backend) => Backend = backend;

    private protected StoreBackend Backend { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        Backend.Dispose();
        GC.SuppressFinalize(this);
    }
}
