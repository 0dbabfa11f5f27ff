using System.CommandLine;
using RagTune.Engine;

namespace RagTune.Cli.Commands;

/// <summary>
/// <see cref="CliRun.Guard(Func{int})"/> for a command whose options map to a library's settings: a
/// <see cref="SettingException"/> is worded with the command's flag for each setting (<c>--lr</c>, not
/// <c>TuneOptions.LearningRate</c>).
/// </summary>
internal static class SettingFlags
{
    public static Task<int> Guard(IReadOnlyDictionary<string, Option> flags, Func<int> body) => Guard(flags, () => Task.FromResult(body()));

    /// <inheritdoc cref="Guard(IReadOnlyDictionary{string, Option}, Func{int})"/>
    public static Task<int> Guard(IReadOnlyDictionary<string, Option> flags, Func<Task<int>> body) => CliRun.Guard(async () =>
    {
        try
        {
            return await body();
        }
        catch (SettingException e)
        {
            Console.Error.WriteLine($"error: {Word(e, flags)}");
            return 1;
        }
    });

    /// <summary>The message of <paramref name="e"/> with each setting named by its flag in <paramref name="flags"/>.</summary>
    public static string Word(SettingException e, IReadOnlyDictionary<string, Option> flags) =>
        e.Render(s => flags.TryGetValue(s, out var o) ? o.Name : null);
}
