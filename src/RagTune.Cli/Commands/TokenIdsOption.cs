namespace RagTune.Cli.Commands;

/// <summary>A <c>--tokens</c> value: token ids written "1,2,3" (spaces allowed).</summary>
internal static class TokenIdsOption
{
    /// <summary>Parses <paramref name="text"/> into token ids; <paramref name="option"/> names the flag in the error.</summary>
    public static int[] Parse(string text, string option)
    {
        var parts = text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i]) || ids[i] < 0)
                throw new UsageException($"{option}: '{parts[i]}' is not a token id; pass comma-separated non-negative integers such as 1,450,2.");
        return ids;
    }
}
