using System.Diagnostics;

namespace RagTune.Cli.Tests.Models;

/// <summary>Runs the real CLI with extra environment variables (cache folder, hub URL, catalog, config).</summary>
internal static class CliEnvProcess
{
    public static CliProcess.Result Run(IReadOnlyDictionary<string, string> env, params string[] args) => Run(TimeSpan.FromSeconds(120), env, args);

    public static CliProcess.Result Run(TimeSpan timeout, IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"ragtune {string.Join(' ', args)} hung.");
        }
        return new CliProcess.Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
