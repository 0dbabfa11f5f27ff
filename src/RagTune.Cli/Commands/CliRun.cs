using System.CommandLine;
using RagTune.Engine;
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
        catch (Exception e) when (e is IOException or RagTune.Models.Local.ContextLengthExceededException or ArgumentException or UsageException or RagTune.Hosting.HostingException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return e is UsageException or RagTune.Hosting.HostingException { Failure: RagTune.Hosting.HostingFailure.Invalid } ? 2 : 1;
        }
    }

    public static Task<int> Guard(Func<int> body) => Guard(() => Task.FromResult(body()));

    /// <summary>
    /// <see cref="Guard(Func{int})"/> for a command whose options map to a library's settings: a
    /// <see cref="SettingException"/> is worded with the command's flag for each setting (<c>--lr</c>, not
    /// <c>TuneOptions.LearningRate</c>).
    /// </summary>
    public static Task<int> Guard(IReadOnlyDictionary<string, Option> flags, Func<int> body) => Guard(flags, () => Task.FromResult(body()));

    /// <inheritdoc cref="Guard(IReadOnlyDictionary{string, Option}, Func{int})"/>
    public static Task<int> Guard(IReadOnlyDictionary<string, Option> flags, Func<Task<int>> body) => Guard(async () =>
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

/// <summary>The <c>--type</c> of the model writers: a tensor type name, or <c>q4_k_m</c> (llama.cpp's Q4_K_M mix).</summary>
internal static class ModelTypeOption
{
    public const string Choices = "f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k or q4_k_m (Q4_K with Q6_K output and half the attn_v/ffn_down, as llama.cpp)";

    public static (RagTune.Engine.Tensors.GgmlType Type, bool MediumMix, string Name) Parse(string name)
    {
        if (string.Equals(name, "q4_k_m", StringComparison.OrdinalIgnoreCase)) return (RagTune.Engine.Tensors.GgmlType.Q4_K, true, "q4_k_m");
        var type = RagTune.Engine.Tensors.GgmlTypes.Parse(name);
        return (type, false, RagTune.Engine.Tensors.GgmlTypes.Traits(type).Name);
    }
}

/// <summary>A command-line usage error (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
