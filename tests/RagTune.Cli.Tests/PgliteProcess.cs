using System.Diagnostics;
using System.Globalization;
using RagTune.TestKit;

namespace RagTune.Cli.Tests;

/// <summary>
/// A PGlite PostgreSQL server (<c>dev/pglite/server.mjs</c>, node) of one test's own, on a free loopback port, stopped
/// on dispose. Tests that kill a client mid-transaction use their own: PGlite is one backend shared by every
/// connection, so a server shared with other test processes would mix their statements with the rollback. Needs
/// <c>npm ci --prefix dev/pglite</c> (test.sh and .ci/run run it); without it the test fails saying so.
/// </summary>
internal sealed class PgliteProcess : IDisposable
{
    private readonly Process _process;

    private PgliteProcess(Process process, int port)
    {
        _process = process;
        ConnectionString = string.Create(CultureInfo.InvariantCulture,
            $"Host=127.0.0.1;Port={port};Username=postgres;Password=postgres;Database=postgres;SSL Mode=Disable;Maximum Pool Size=1;No Reset On Close=true;Timeout=60;Command Timeout=300");
    }

    /// <summary>Npgsql connection string (one connection at a time, as PGlite needs; see dev/pglite/server.mjs).</summary>
    public string ConnectionString { get; }

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
