namespace RagTune.FineTuning.Datasets;

/// <summary>
/// One training sequence, ready for the model: <see cref="Inputs"/>[t] is fed at position t and
/// <see cref="Targets"/>[t] is the token to predict there, or -1 where the loss ignores it (prompt tokens).
/// Both have <see cref="Length"/> positions, at most the sequence length.
/// </summary>
internal sealed record TokenizedExample(int Line, int[] Inputs, int[] Targets)
{
    public int Length => Inputs.Length;

    /// <summary>Positions that count in the loss.</summary>
    public int TrainableCount => Targets.Count(t => t >= 0);
}

/// <summary>What the tokeniser did with a file: shown before training and saved with the run.</summary>
public sealed record DatasetReport(
    string Path,
    DatasetFormat Format,
    int Records,
    int Examples,
    long Tokens,
    long TrainableTokens,
    int Truncated,
    int Dropped,
    int Longest,
    int LongestLine,
    int SeqLen)
{
    /// <summary>Lines (file line numbers) of examples longer than the sequence length, first 20.</summary>
    public IReadOnlyList<int> OverlongLines { get; init; } = [];

    /// <summary>One line for the console: records, examples, tokens, the longest example and what was cut or dropped.</summary>
    public override string ToString()
    {
        var s = $"{System.IO.Path.GetFileName(Path)} ({DatasetFormats.Name(Format)}): {Records} records → {Examples} examples, {Tokens:N0} tokens ({TrainableTokens:N0} in the loss), longest {Longest} tokens (line {LongestLine})";
        if (Truncated > 0 || Dropped > 0)
            s += $"; {Truncated} truncated and {Dropped} dropped at seq-len {SeqLen}"
                + (OverlongLines.Count > 0 ? $" (lines {string.Join(", ", OverlongLines.Take(5))}{(OverlongLines.Count > 5 ? ", …" : "")})" : "");
        return s;
    }
}
