namespace RagTune.Models.Downloads;

/// <summary>Settings of a <see cref="ModelDownloader"/>; defaults are documented per property.</summary>
public sealed class ModelDownloaderOptions
{
    /// <summary>Environment variable that overrides the default <see cref="ModelsDir"/>.</summary>
    public const string ModelsDirVariable = "RAGTUNE_MODELS_DIR";

    /// <summary>Environment variable that overrides the default <see cref="HubUrl"/>.</summary>
    public const string HubUrlVariable = "RAGTUNE_HF_ENDPOINT";

    /// <summary>Environment variable that gives the default <see cref="Token"/>.</summary>
    public const string TokenVariable = "HF_TOKEN";

    /// <summary>Cache folder; default <c>$RAGTUNE_MODELS_DIR</c>, else <c>~/.ragtune/models</c>.</summary>
    public string ModelsDir { get; set; } = DefaultModelsDir();

    /// <summary>Hugging Face root; default <c>$RAGTUNE_HF_ENDPOINT</c>, else <c>https://huggingface.co</c>. Tests point it at loopback.</summary>
    public Uri HubUrl { get; set; } = new(Environment.GetEnvironmentVariable(HubUrlVariable) is { Length: > 0 } u ? u : "https://huggingface.co");

    /// <summary>Bearer token sent to the hub (not to other hosts); default <c>$HF_TOKEN</c>.</summary>
    public string? Token { get; set; } = Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } t ? t : null;

    /// <summary>Tries per file; an interrupted try resumes where the last one stopped; default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>How long a pull waits for another pull of the same file to finish; default 1 hour.</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Least time between progress reports; default 200 ms.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Time without any bytes before a connection is given up; default 60 s.</summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The folder <see cref="ModelsDir"/> defaults to.</summary>
    public static string DefaultModelsDir() =>
        Environment.GetEnvironmentVariable(ModelsDirVariable) is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ragtune", "models");

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ModelsDir);
        ArgumentNullException.ThrowIfNull(HubUrl);
        if (MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "MaxAttempts must be at least 1.");
        if (LockTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(LockTimeout), LockTimeout, "LockTimeout must be positive.");
        if (ReadTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReadTimeout), ReadTimeout, "ReadTimeout must be positive.");
    }
}

/// <summary>One progress report: bytes so far of the current file, its size when known, the rate and the time left.</summary>
public sealed record DownloadProgress(string File, long BytesDone, long? TotalBytes, double BytesPerSecond, TimeSpan? Eta, bool Completed);

/// <summary>A download failed in a way the user fixes (not found, no access, offline, corrupt); the message says how.</summary>
public sealed class ModelDownloadException(string message, Uri url, int? statusCode = null, Exception? inner = null) : IOException(message, inner)
{
    /// <summary>The address that failed.</summary>
    public Uri Url { get; } = url;

    /// <summary>The HTTP status code, when the server answered.</summary>
    public int? StatusCode { get; } = statusCode;
}
