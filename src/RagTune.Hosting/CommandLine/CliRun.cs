namespace RagTune.Hosting.CommandLine;

/// <summary>
/// Runs a command body of a command-line front end (the <c>ragtune</c> CLI and its benchmarks) and turns the
/// failures a user can fix (bad files, bad arguments, a prompt too long) into one clear line on stderr and exit
/// code 1, or 2 for a usage error, instead of a stack trace.
/// </summary>
public static class CliRun
{
    /// <summary>Runs <paramref name="body"/>; returns its exit code, 130 when cancelled, 1 or 2 for a failure the user can fix.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return await body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e) when (e is IOException or RagTune.Models.Local.ContextLengthExceededException or ArgumentException or UsageException or HostingException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return e is UsageException or HostingException { Failure: HostingFailure.Invalid } ? 2 : 1;
        }
    }

    /// <inheritdoc cref="Guard(Func{Task{int}})"/>
    public static Task<int> Guard(Func<int> body) => Guard(() => Task.FromResult(body()));
}
