using System.Text.Json;

namespace RagTune.Cli.Tests;

/// <summary>
/// <c>ragtune bench soak</c> for a short while on the smollm2-135m shape (the tiny shapes' 256-512 token contexts cannot hold a rag: prompt), with a fine-tuning client: every kind of
/// request completes without errors, a tuning job runs to its end beside them, and memory is sampled during the run.
/// The figures of the real 10-minute and longer soaks belong to docs/reliability.md.
/// </summary>
public sealed class SoakBenchTests
{
    [Fact]
    public void A_short_soak_with_tuning_serves_every_kind_and_samples_memory()
    {
        var r = CliProcess.Run(TimeSpan.FromMinutes(5), "bench", "soak", "--clients", "7", "--duration", "30", "--max-tokens", "4",
            "--threads", "1", "--tuning", "--sample", "10", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var json = JsonDocument.Parse(r.Stdout);
        var b = json.RootElement;
        Assert.Equal(0, b.GetProperty("errors").GetInt32());
        foreach (var kind in new[] { "chat", "rag-chat", "ask", "search", "upload", "poll", "sse", "tune" })
            Assert.True(b.GetProperty("kinds").GetProperty(kind).GetProperty("count").GetInt32() > 0, $"no {kind} request completed: {r.Stdout}");
        var samples = b.GetProperty("memory").EnumerateArray().ToList();
        // One sample per 10 s of the whole run, which lasts until the last tuning job ends (past --duration under load).
        Assert.InRange(samples.Count, 1, (int)(b.GetProperty("seconds").GetDouble() / 10) + 1);
        Assert.All(samples, s => Assert.True(s.GetProperty("rssMiB").GetDouble() > 0));
    }

    [Fact]
    public void Out_of_bounds_sampling_is_refused()
    {
        var r = CliProcess.Run("bench", "soak", "--sample", "5");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--sample 5", r.Stderr);
    }
}
