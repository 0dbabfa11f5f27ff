namespace RagTune.FineTuning.Datasets;

/// <summary>Who speaks a turn.</summary>
public enum TurnRole
{
    /// <summary>Instructions for the model.</summary>
    System,
    /// <summary>What the user says.</summary>
    User,
    /// <summary>What the model answers (the trained turns).</summary>
    Assistant,
}

/// <summary>One message of a training conversation.</summary>
public sealed record ChatTurn(TurnRole Role, string Text);

/// <summary>
/// One example as read from the file, before tokenisation: a conversation (instruction formats) or a text
/// document (<see cref="DatasetFormat.Text"/>). <see cref="Line"/> is where it starts in the file.
/// </summary>
internal sealed record DatasetRecord(int Line, IReadOnlyList<ChatTurn> Turns, string? Text = null)
{
    public bool IsText => Text != null;
}

/// <summary>A training file read and validated: its detected format and records in file order.</summary>
internal sealed record LoadedDataset(string Path, DatasetFormat Format, IReadOnlyList<DatasetRecord> Records);
