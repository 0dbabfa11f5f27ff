using RagTune.Rag.Postgres;
using RagTune.TestKit;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Postgres.Tests;

/// <summary>
/// The PostgreSQL the tests use: <c>$RAGTUNE_TEST_POSTGRES</c> (a connection string: a real server, or the PGlite
/// server .ci/run starts), else a PGlite server this process starts from <c>dev/pglite/server.mjs</c> when its
/// node_modules are installed (<c>npm ci --prefix dev/pglite</c>) and stops at exit. With neither the tests fail with
/// a message saying so: they never pass without a database. Each test gets its own schema prefix, so tests run in
/// parallel on one database without seeing each other.
/// </summary>
internal static class PostgresServer
{
    public const string EnvironmentVariable = "RAGTUNE_TEST_POSTGRES";

    private static readonly Lazy<string> s_connectionString = new(Start);
    private static PgliteProcess? s_server;
    private static int s_prefixes;

    /// <summary>The server's connection string (starting PGlite on first use when needed).</summary>
    public static string ConnectionString => s_connectionString.Value;

    /// <summary>Store options on a schema prefix no other test uses.</summary>
    public static PostgresStoreOptions Options(bool exact = false) => new()
    {
        ConnectionString = ConnectionString,
        SchemaPrefix = $"t{Environment.ProcessId}_{Interlocked.Increment(ref s_prefixes)}",
        ExactVectorSearch = exact,
    };

    public static PostgresCollections Catalog(bool exact = false) => new(Options(exact));

    private static string Start()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } given) return given;
        if (!Directory.Exists(SharedData.Repo("dev", "pglite", "node_modules", "@electric-sql", "pglite-socket")))
            throw new InvalidOperationException(
                $"No PostgreSQL for the PostgreSQL store tests: set {EnvironmentVariable} to a connection string (a server with pgvector), " +
                "or install the PGlite test server with 'npm ci --prefix dev/pglite' (needs node) so the tests start it themselves.");
        var ready = Path.Combine(Path.GetTempPath(), $"ragtune-pglite-{Environment.ProcessId}.port");
        File.Delete(ready);
        s_server = PgliteProcess.Start(ready);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => s_server.Dispose();
        return s_server.ConnectionString;
    }
}
