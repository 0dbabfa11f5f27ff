namespace RagTune.Engine.Formats;

/// <summary>
/// A model file is malformed, truncated or of an unsupported kind. The message names the file, the field or offset
/// at fault, what is wrong and what to do about it.
/// </summary>
/// <remarks>
/// Derives from <see cref="IOException"/> because <see cref="InvalidDataException"/> is sealed. A missing file is a
/// <see cref="FileNotFoundException"/>, also an <see cref="IOException"/>, so catching <see cref="IOException"/>
/// catches every failure to load a model file.
/// </remarks>
public class ModelFormatException : IOException
{
    internal ModelFormatException() { }

    internal ModelFormatException(string message) : base(message) { }

    internal ModelFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with the message prefixed by the file it is about.</summary>
    public ModelFormatException(string filePath, string message, Exception? innerException = null)
        : base($"{filePath}: {message}", innerException)
    {
        FilePath = filePath;
    }

    /// <summary>The file the error is about, when known.</summary>
    public string? FilePath { get; }
}
