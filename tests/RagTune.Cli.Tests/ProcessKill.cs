using System.Diagnostics;

namespace RagTune.Cli.Tests;

/// <summary>The CLI as a child process killed with SIGKILL (no cleanup runs), for the crash-safety tests.</summary>
internal static class ProcessKill
{
    /// <summary>Starts the CLI and kills it (SIGKILL, no cleanup) after <paramref name="delay"/>; null when killed, else how long it ran.</summary>
    public static TimeSpan? RunAndKill(string[] args, TimeSpan delay)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        if (p.WaitForExit(delay)) return sw.Elapsed;
        p.Kill(entireProcessTree: true); // SIGKILL on Linux
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "the killed command did not exit");
        return null;
    }
}
