namespace RagTune.FineTuning.Datasets;

/// <summary>The training-file layouts RagTune reads; <see cref="Auto"/> picks one from the first record's fields.</summary>
public enum DatasetFormat
{
    /// <summary>Detect: <c>messages</c> → chat, <c>instances</c> → Alpaca seed tasks, <c>instruction</c> → Alpaca, <c>question</c> → QA, <c>text</c> or a .txt file → text.</summary>
    Auto,

    /// <summary>Alpaca: <c>{"instruction", "input"?, "output"}</c>, JSON array or JSONL.</summary>
    Alpaca,

    /// <summary>Self-Instruct seed tasks: <c>{"instruction", "instances": [{"input", "output"}]}</c>; one example per instance.</summary>
    AlpacaInstances,

    /// <summary>OpenAI chat: <c>{"messages": [{"role", "content"}]}</c>; the loss covers assistant turns only.</summary>
    Chat,

    /// <summary>Question answering: <c>{"question", "answer", "context"?}</c>.</summary>
    Qa,

    /// <summary>Continued pretraining: a plain text file, or JSONL with a <c>text</c> field; split into seq-len windows.</summary>
    Text,
}

/// <summary>Parsing of <see cref="DatasetFormat"/> names as the CLI spells them.</summary>
public static class DatasetFormats
{
    /// <summary>The names <see cref="Parse"/> accepts.</summary>
    public const string Names = "auto, alpaca, alpaca-instances, chat, qa, text";

    /// <summary>The format <paramref name="name"/> names (one of <see cref="Names"/>, or an alias); an <see cref="ArgumentException"/> listing them otherwise.</summary>
    public static DatasetFormat Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "auto" => DatasetFormat.Auto,
        "alpaca" => DatasetFormat.Alpaca,
        "alpaca-instances" or "instances" or "self-instruct" => DatasetFormat.AlpacaInstances,
        "chat" or "messages" or "openai" => DatasetFormat.Chat,
        "qa" => DatasetFormat.Qa,
        "text" or "plain" or "txt" => DatasetFormat.Text,
        _ => throw new ArgumentException($"Unknown dataset format '{name}'. Use one of: {Names}."),
    };

    /// <summary>The name the CLI spells <paramref name="format"/> with.</summary>
    public static string Name(DatasetFormat format) => format switch
    {
        DatasetFormat.AlpacaInstances => "alpaca-instances",
        _ => format.ToString().ToLowerInvariant(),
    };
}

/// <summary>What to do with an example longer than the sequence length.</summary>
public enum OverlongPolicy
{
    /// <summary>Keep the first seq-len positions (dropped anyway when no answer token survives).</summary>
    Truncate,

    /// <summary>Leave the example out.</summary>
    Drop,
}
