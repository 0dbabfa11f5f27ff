using System.Text.Json;

namespace RagTune.Cli.Tests;

/// <summary><c>ragtune bench serve</c> for a couple of seconds: it runs, counts and reports; the figures themselves belong to docs/benchmarks.md.</summary>
public sealed class ServeBenchTests
{
    [Fact]
    public void Two_streaming_clients_for_two_seconds_complete_requests_without_errors()
    {
        var r = CliProcess.Run(TimeSpan.FromSeconds(180), "bench", "serve", "--clients", "2", "--duration", "2", "--max-tokens", "8", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var json = JsonDocument.Parse(r.Stdout);
        var b = json.RootElement;
        Assert.Equal(2, b.GetProperty("clients").GetInt32());
        Assert.Equal(0, b.GetProperty("errors").GetInt32());
        int requests = b.GetProperty("requests").GetInt32();
        Assert.True(requests >= 2, $"only {requests} requests in the run");
        Assert.InRange(b.GetProperty("tokens").GetInt64(), 1, 8L * requests);
        Assert.True(b.GetProperty("time_to_first_token_p50_ms").GetDouble() > 0);
        Assert.True(b.GetProperty("time_to_first_token_p95_ms").GetDouble() >= b.GetProperty("time_to_first_token_p50_ms").GetDouble());
        Assert.True(b.GetProperty("reference_requests").GetInt32() >= 1);
        Assert.True(b.GetProperty("tokens_per_second_ratio").GetDouble() > 0);
    }

    [Fact]
    public void Out_of_bounds_settings_are_refused()
    {
        var r = CliProcess.Run("bench", "serve", "--clients", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--clients 0", r.Stderr);
        var longRun = CliProcess.Run("bench", "serve", "--duration", "3600");
        Assert.Equal(2, longRun.ExitCode);
        Assert.Contains("1 to 600", longRun.Stderr);
    }
}
