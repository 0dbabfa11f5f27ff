using System.Diagnostics;
using System.Text.Json;

namespace RagTune.Benchmarks;

/// <summary>
/// Runs llama.cpp on the same GGUF file and prompt token ids as <c>bench generate</c>, through the benchmark tool
/// <c>bench/LlamaCppReference</c> (LLamaSharp 0.30.0, llama.cpp b10221) in a process of its own: the CLI never
/// loads llama.cpp, so the product ships without it, and each engine has the machine to itself while it runs.
/// </summary>
internal static class LlamaCppReference
{
    /// <summary>Where the tool's build lands, relative to the repository root.</summary>
    public const string RelativePath = "bench/LlamaCppReference/bin/Release/net10.0/LlamaCppReference.dll";

    /// <summary>The environment variable naming the tool's DLL, for a build somewhere else.</summary>
    public const string PathVariable = "RAGTUNE_LLAMACPP_REFERENCE";

    public static GenerateBenchResult Run(string model, int[] promptIds, int genTokens, int threads, CancellationToken ct)
    {
        var tool = Locate();
        var ids = Path.Combine(Path.GetTempPath(), $"ragtune-bench-ids-{Environment.ProcessId}.txt");
        File.WriteAllLines(ids, promptIds.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        try
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { tool, "--model", Path.GetFullPath(model), "--prompt-ids", ids, "--gen-tokens", genTokens.ToString(System.Globalization.CultureInfo.InvariantCulture),
                         "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture), "--batch", promptIds.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) })
                start.ArgumentList.Add(a);
            using var p = Process.Start(start) ?? throw new InvalidOperationException("could not start 'dotnet' for the llama.cpp reference");
            var stderr = p.StandardError.ReadToEndAsync(ct);
            var stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExitAsync(ct).GetAwaiter().GetResult();
            if (p.ExitCode != 0)
                throw new InvalidOperationException($"the llama.cpp reference ({tool}) failed with exit code {p.ExitCode}: {stderr.Result.Trim()}");
            return JsonSerializer.Deserialize(stdout, BenchJson.Default.GenerateBenchResult)
                ?? throw new InvalidOperationException($"the llama.cpp reference ({tool}) printed no figures");
        }
        finally
        {
            File.Delete(ids);
        }
    }

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } set)
            return File.Exists(set) ? set : throw new UsageException($"{PathVariable}={set}: no such file; point it at a built LlamaCppReference.dll.");
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "RagTune.slnx")))
                {
                    var tool = Path.Combine(dir.FullName, RelativePath);
                    if (File.Exists(tool)) return tool;
                    break;
                }
        throw new UsageException(
            "--reference llamacpp needs the benchmark tool bench/LlamaCppReference: build it in the RagTune repository with " +
            $"'dotnet build bench/LlamaCppReference -c Release' and run this command from there, or set {PathVariable} to its LlamaCppReference.dll.");
    }
}
