using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Tokenizers;

namespace RagTune.Cli.Commands;

/// <summary>
/// Runs a command body and turns the failures a user can fix (bad files, bad arguments, a prompt too long)
/// into one clear line on stderr and exit code 1, instead of a stack trace.
/// </summary>
internal static class CliRun
{
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e) when (e is IOException or ContextOverflowException or ArgumentException or UsageException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return e is UsageException ? 2 : 1;
        }
    }

    public static Task<int> Guard(Func<int> body) => Guard(() => Task.FromResult(body()));

    /// <summary>Parses "1,2,3" (spaces allowed) into token ids.</summary>
    public static int[] ParseTokens(string text, string option)
    {
        var parts = text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i]) || ids[i] < 0)
                throw new UsageException($"{option}: '{parts[i]}' is not a token id; pass comma-separated non-negative integers such as 1,450,2.");
        return ids;
    }
}

/// <summary>A command-line usage error (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
