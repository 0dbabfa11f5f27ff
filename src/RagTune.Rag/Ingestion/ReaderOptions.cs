namespace RagTune.Rag.Ingestion;

/// <summary>A file that cannot be read as a document (binary, corrupt, unsupported, bad record). The message names the file and the reason.</summary>
public sealed class DocumentReadException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public DocumentReadException(string path, string reason, Exception? inner = null)
        : base($"{path}: {reason}", inner)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The file that failed.</summary>
    public string Path { get; }

    /// <summary>Why it failed (without the path).</summary>
    public string Reason { get; }
}

/// <summary>Options for <see cref="DocumentReaders"/>. Defaults suit JSON/CSV exports with "id", "title" and "text" fields.</summary>
public sealed record ReaderOptions
{
    /// <summary>Field holding a record's text (JSON/JSONL/CSV). Default "text".</summary>
    public string TextField { get; init; } = "text";

    /// <summary>Field holding a record's id. Default "id"; a record without it gets "&lt;file id&gt;#&lt;record number&gt;".</summary>
    public string IdField { get; init; } = "id";

    /// <summary>Field holding a record's title. Default "title"; without it the title is the record's id.</summary>
    public string TitleField { get; init; } = "title";

    /// <summary>Files larger than this are refused (protects memory). Default 256 MiB.</summary>
    public long MaxFileBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// One JSONL line (one record) longer than this is refused with its line named, before it is parsed. Default
    /// 16 MiB: far more than one document a retriever can use, and it keeps a reader's memory a few times this
    /// size whatever the file holds.
    /// </summary>
    public int MaxRecordBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Default options.</summary>
    public static ReaderOptions Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(TextField)) throw new ArgumentException("ReaderOptions.TextField must name a field (e.g. \"text\").");
        if (string.IsNullOrWhiteSpace(IdField)) throw new ArgumentException("ReaderOptions.IdField must name a field (e.g. \"id\").");
        if (string.IsNullOrWhiteSpace(TitleField)) throw new ArgumentException("ReaderOptions.TitleField must name a field (e.g. \"title\").");
        if (TextField == IdField) throw new ArgumentException($"ReaderOptions.TextField and IdField are both \"{TextField}\"; they must differ.");
        if (MaxFileBytes <= 0) throw new ArgumentException($"ReaderOptions.MaxFileBytes must be positive (got {MaxFileBytes}).");
        if (MaxRecordBytes <= 0) throw new ArgumentException($"ReaderOptions.MaxRecordBytes must be positive (got {MaxRecordBytes}).");
    }
}
