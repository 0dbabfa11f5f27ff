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

    // Postings have no foreign key (PostgresSchema.Version): none may outlive its chunk.
    public override void AssertConsistent(ICollectionStore store)
    {
        var pg = (PostgresChunkStore)store;
        var s = PostgresSchema.Quote(pg.Schema);
        using var db = Npgsql.NpgsqlDataSource.Create(PostgresServer.ConnectionString);
        using var cmd = db.CreateCommand($"SELECT (SELECT count(*) FROM {s}.postings p WHERE NOT EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.id = p.chunk_id))" +
            $" + (SELECT count(*) FROM {s}.vectors v WHERE NOT EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.id = v.chunk_id))");
        Assert.Equal(0L, cmd.ExecuteScalar());
    }

    // PGlite writes a 25-document batch in a few hundred milliseconds, ten times slower than SQLite.
    public override int ConcurrentWriterBatches => 12;
}

public sealed class PostgresStoreContractTests() : StoreContractTests(new PostgresBackend());

public sealed class PostgresCatalogContractTests() : CatalogContractTests(new PostgresBackend());

public sealed class PostgresReembedContractTests() : ReembedContractTests(new PostgresBackend());
