namespace RagTune.Models.Remote;

/// <summary>
/// A remote OpenAI-compatible server could not be reached or refused a request. The message names the URL, the
/// HTTP status (when there was one) and what to check. Derives from <see cref="IOException"/> because it is a
/// communication failure the user fixes outside the program (start the server, set the key, fix the model name).
/// </summary>
public sealed class RemoteModelException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed and how to fix it.</param>
    /// <param name="url">The URL that was requested.</param>
    /// <param name="statusCode">The HTTP status the server answered, or null when no answer came.</param>
    /// <param name="innerException">The transport or client exception, when there is one.</param>
    public RemoteModelException(string message, Uri url, int? statusCode, Exception? innerException = null)
        : base(message, innerException)
    {
        Url = url;
        StatusCode = statusCode;
    }

    /// <summary>The URL that was requested.</summary>
    public Uri Url { get; }

    /// <summary>The HTTP status the server answered, or null when the server could not be reached.</summary>
    public int? StatusCode { get; }
}
