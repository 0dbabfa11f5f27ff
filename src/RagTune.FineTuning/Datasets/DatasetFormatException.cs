namespace RagTune.FineTuning.Datasets;

/// <summary>One problem in a training file, with the 1-based line it is on (0 when it concerns the whole file).</summary>
internal sealed record DatasetIssue(int Line, string Message)
{
    public override string ToString() => Line > 0 ? $"line {Line}: {Message}" : Message;
}

/// <summary>
/// A training file that cannot be used as it is. The message names the file and the first problems with their
/// line numbers; <see cref="Issues"/> holds them all. Derives from <see cref="IOException"/> like the engine's
/// format errors, so the CLI reports it as one clear line.
/// </summary>
internal sealed class DatasetFormatException : IOException
{
    private const int ShownIssues = 10;

    public DatasetFormatException(string path, IReadOnlyList<DatasetIssue> issues)
        : base(Describe(path, issues))
    {
        Path = path;
        Issues = issues;
    }

    /// <summary>The training file.</summary>
    public string Path { get; }

    /// <summary>Every problem found, in file order.</summary>
    public IReadOnlyList<DatasetIssue> Issues { get; }

    private static string Describe(string path, IReadOnlyList<DatasetIssue> issues)
    {
        var lines = issues.Take(ShownIssues).Select(i => i.Line > 0 ? $"  {path}:{i.Line}: {i.Message}" : $"  {path}: {i.Message}");
        var more = issues.Count > ShownIssues ? $"\n  … and {issues.Count - ShownIssues} more" : "";
        return $"{path}: {issues.Count} problem{(issues.Count == 1 ? "" : "s")} in the training data; fix them and run again:\n{string.Join('\n', lines)}{more}";
    }
}
