namespace RagTune.Hosting;

/// <summary>What kind of problem a <see cref="HostingException"/> reports, so a front end can pick its answer (HTTP status, exit code).</summary>
public enum HostingFailure
{
    /// <summary>The request is malformed or names something invalid (400).</summary>
    Invalid,

    /// <summary>The named collection, job or document does not exist (404).</summary>
    NotFound,

    /// <summary>The request clashes with the current state, e.g. the collection already exists (409).</summary>
    Conflict,

    /// <summary>An upload is larger than <see cref="RagTuneOptions.MaxUploadBytes"/> (413).</summary>
    TooLarge,

    /// <summary>The job queue is full (429).</summary>
    Busy,
}

/// <summary>A request the composed services refuse; the message names the field and what to do.</summary>
public sealed class HostingException(HostingFailure failure, string message, string? field = null) : Exception(message)
{
    /// <summary>What kind of problem this is (a front end maps it to its status or exit code).</summary>
    public HostingFailure Failure { get; } = failure;

    /// <summary>The request field at fault, when there is one.</summary>
    public string? Field { get; } = field;

    /// <summary>A malformed request or an invalid name (<see cref="HostingFailure.Invalid"/>).</summary>
    public static HostingException Invalid(string message, string? field = null) => new(HostingFailure.Invalid, message, field);

    /// <summary>A named collection, job or document that does not exist (<see cref="HostingFailure.NotFound"/>).</summary>
    public static HostingException NotFound(string message, string? field = null) => new(HostingFailure.NotFound, message, field);

    /// <summary>A request that clashes with the current state (<see cref="HostingFailure.Conflict"/>).</summary>
    public static HostingException Conflict(string message, string? field = null) => new(HostingFailure.Conflict, message, field);
}
