using System.Diagnostics;
using System.Globalization;
namespace RagTune.TestKit.Stores;

/// <summary>
/// A PGlite PostgreSQL server (<c>dev/pglite/server.mjs</c>, node) on a free loopback port, stopped on dispose: the
/// PostgreSQL store tests' server when no <c>$RAGTUNE_TEST_POSTGRES</c> is given, and the own server of a test that
/// kills a client mid-transaction (PGlite is one backend shared by every connection, so a server shared with other
/// test processes would mix their statements with the rollback). Needs <c>npm ci --prefix dev/pglite</c> (test.sh and
/// .ci/run run it); without it the test fails saying so.
/// </summary>
public sealed class PgliteProcess : IDisposable
{
    private readonly Process _process;

    private PgliteProcess(Process process, int port)
    {
        _process = process;
        ConnectionString = string.Create(CultureInfo.InvariantCulture,
            $"Host=127.0.0.1;Port={port};Username=postgres;Password=postgres;Database=postgres;SSL Mode=Disable;Maximum Pool Size=1;No Reset On Close=true;Timeout=60;Command Timeout=300");
    }

    /// <summary>
    /// The Npgsql connection string. PGlite is one backend; pglite-socket shares it between connections, keeping a
    /// transaction's statements together but not an autocommit statement's protocol messages (another connection's
    /// Parse can land between this one's Parse and Bind: "unnamed prepared statement does not exist"). So one
    /// connection at a time (pool of 1, tests not in parallel), and no reset on close (DISCARD ALL would reach the
    /// shared session).
    /// </summary>
    public string ConnectionString { get; }

    /// <summary>Starts the server; it writes its port to <paramref name="readyFile"/> once it listens.</summary>
    public static PgliteProcess Start(string readyFile)
    {
        var script = SharedData.Repo("dev", "pglite", "server.mjs");
        if (!Directory.Exists(SharedData.Repo("dev", "pglite", "node_modules", "@electric-sql", "pglite-socket")))
            throw new InvalidOperationException("This test needs the PGlite server's npm packages: run 'npm ci --prefix dev/pglite' (needs node).");
        var psi = new ProcessStartInfo("node", [script, "--port", "0", "--ready-file", readyFile])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start node for the PGlite server.");
        _ = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        var sw = Stopwatch.StartNew();
        while (!File.Exists(readyFile) || new FileInfo(readyFile).Length == 0)
        {
            if (process.HasExited) throw new InvalidOperationException($"The PGlite server exited ({process.ExitCode}): {errors.Result}");
            if (sw.Elapsed > TimeSpan.FromSeconds(90))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("The PGlite server did not start in 90 s.");
            }
            Thread.Sleep(100);
        }
        return new PgliteProcess(process, int.Parse(File.ReadAllText(readyFile), CultureInfo.InvariantCulture));
    }

    /// <summary>Kills the server.</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
