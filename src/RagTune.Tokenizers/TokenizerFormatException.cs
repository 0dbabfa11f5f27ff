namespace RagTune.Tokenizers;

/// <summary>
/// A tokenizer file or vocabulary is malformed. The message names the source (file path or metadata origin),
/// the byte offset or token id where the problem was found, and what a valid file looks like.
/// </summary>
/// <remarks>
/// Derives from <see cref="IOException"/> because <see cref="InvalidDataException"/> is sealed; callers that
/// handle unreadable files with <c>catch (IOException)</c> handle this too.
/// </remarks>
public sealed class TokenizerFormatException : IOException
{
    /// <summary>Creates an exception with a generic message.</summary>
    public TokenizerFormatException() : base("The tokenizer data is malformed.") { }

    /// <summary>Creates an exception with <paramref name="message"/>.</summary>
    public TokenizerFormatException(string message) : base(message) { }

    /// <summary>Creates an exception with <paramref name="message"/> wrapping <paramref name="innerException"/>.</summary>
    public TokenizerFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates an exception naming <paramref name="sourceName"/> and, when known, the byte <paramref name="offset"/>.</summary>
    public TokenizerFormatException(string sourceName, long? offset, string problem)
        : this(sourceName, offset, problem, null)
    {
    }

    /// <summary>As <see cref="TokenizerFormatException(string, long?, string)"/>, wrapping the error that revealed the problem.</summary>
    public TokenizerFormatException(string sourceName, long? offset, string problem, Exception? innerException)
        : base(offset is { } o ? $"{sourceName}: at byte offset {o}: {problem}" : $"{sourceName}: {problem}", innerException)
    {
        SourceName = sourceName;
        Offset = offset;
    }

    /// <summary>The file path or description of where the vocabulary came from, when known.</summary>
    public string? SourceName { get; }

    /// <summary>The byte offset in <see cref="SourceName"/> where the problem was found, when it is a file.</summary>
    public long? Offset { get; }
}
