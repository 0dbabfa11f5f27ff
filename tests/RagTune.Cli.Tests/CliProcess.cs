using System.Diagnostics;

namespace RagTune.Cli.Tests;

/// <summary>Runs the real <c>ragtune</c> CLI as a child process, with a hard time limit so a hang fails the test.</summary>
internal static class CliProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    private static string CliDll
    {
        get
        {
            var local = Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll");
            if (File.Exists(local) && File.Exists(Path.ChangeExtension(local, ".runtimeconfig.json"))) return local;
            throw new FileNotFoundException("RagTune.Cli.dll (with its runtimeconfig) is not beside the tests; build the solution first.", local);
        }
    }

    public static Result Run(TimeSpan timeout, params string[] args) => RunWithInput(timeout, null, args);

    /// <summary>Runs the CLI with <paramref name="stdin"/> piped to its standard input (null: none).</summary>
    public static Result RunWithInput(TimeSpan timeout, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin != null, UseShellExecute = false };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin != null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"ragtune {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s (a hang).");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    public static Result Run(params string[] args) => Run(TimeSpan.FromSeconds(120), args);

    public static Result Run(IEnumerable<string> args) => Run(TimeSpan.FromSeconds(120), args.ToArray());
}
