using System.Diagnostics;
using Npgsql;
using RagTune.Rag.Postgres;
using RagTune.TestKit;

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
    private static Process? s_process;
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
        var script = SharedData.Repo("dev", "pglite", "server.mjs");
        if (!Directory.Exists(SharedData.Repo("dev", "pglite", "node_modules", "@electric-sql", "pglite-socket")))
            throw new InvalidOperationException(
                $"No PostgreSQL for the PostgreSQL store tests: set {EnvironmentVariable} to a connection string (a server with pgvector), " +
                "or install the PGlite test server with 'npm ci --prefix dev/pglite' (needs node) so the tests start it themselves.");
        var ready = Path.Combine(Path.GetTempPath(), $"ragtune-pglite-{Environment.ProcessId}.port");
        File.Delete(ready);
        var psi = new ProcessStartInfo("node", [script, "--port", "0", "--ready-file", ready])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        s_process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start node for the PGlite test server.");
        var log = new System.Text.StringBuilder();
        s_process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        s_process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        s_process.BeginOutputReadLine();
        s_process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop();
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(ready) || new FileInfo(ready).Length == 0)
        {
            if (s_process.HasExited) throw new InvalidOperationException($"The PGlite test server exited ({s_process.ExitCode}): {log}");
            if (deadline.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException($"The PGlite test server did not start in 90 s: {log}");
            Thread.Sleep(100);
        }
        int port = int.Parse(File.ReadAllText(ready), System.Globalization.CultureInfo.InvariantCulture);
        return For(port);
    }

    /// <summary>
    /// A PGlite connection string. PGlite is one backend; pglite-socket shares it between connections, keeping a
    /// transaction's statements together but not an autocommit statement's protocol messages (another connection's
    /// Parse can land between this one's Parse and Bind: "unnamed prepared statement does not exist"). So one
    /// connection at a time (pool of 1, tests not in parallel), and no reset on close (DISCARD ALL would reach the
    /// shared session).
    /// </summary>
    public static string For(int port, string host = "127.0.0.1") => new NpgsqlConnectionStringBuilder
    {
        Host = host, Port = port, Username = "postgres", Password = "postgres", Database = "postgres",
        SslMode = SslMode.Disable, MaxPoolSize = 1, NoResetOnClose = true, Timeout = 60, CommandTimeout = 300,
    }.ConnectionString;

    private static void Stop()
    {
        try
        {
            if (s_process is { HasExited: false } p) p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }
}
