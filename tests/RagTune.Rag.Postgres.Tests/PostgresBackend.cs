using RagTune.Rag.Store;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>The PostgreSQL store for the contract tests: each catalog on a schema prefix of its own (PostgresServer).</summary>
internal sealed class PostgresBackend : StoreBackend
{
    public override ICollectionCatalog NewCatalog(bool referencePaths = false) => PostgresServer.Catalog(exact: referencePaths);

    public override ICollectionCatalog Reopen(ICollectionCatalog catalog) => new PostgresCollections(((PostgresCollections)catalog).Options);

    public override int SchemaVersion => PostgresSchema.Version;

    public override bool ApproximateVectorSearch => true;

    // PGlite writes a 25-document batch in a few hundred milliseconds, ten times slower than SQLite.
    public override int ConcurrentWriterBatches => 12;
}

public sealed class PostgresStoreContractTests() : StoreContractTests(new PostgresBackend());

public sealed class PostgresCatalogContractTests() : CatalogContractTests(new PostgresBackend());

public sealed class PostgresReembedContractTests() : ReembedContractTests(new PostgresBackend());
