namespace RagTune.TestKit;

/// <summary>
/// Locates <c>../shared</c> (read-only models, tokenizers and data sets beside the checkout) and the
/// repository root. Tests read shared files in place; nothing is copied into the project.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string> s_repoRoot = new(FindRepoRoot);

    /// <summary>The repository root (the folder holding <c>RagTune.slnx</c>).</summary>
    public static string RepoRoot => s_repoRoot.Value;

    /// <summary>The shared folder, <c>$RAGTUNE_SHARED</c> or <c>../shared</c> beside the repository.</summary>
    public static string Root =>
        Environment.GetEnvironmentVariable("RAGTUNE_SHARED") is { Length: > 0 } env
            ? env
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>A path inside the shared folder; fails with a clear message when it is missing.</summary>
    public static string File(params string[] parts)
    {
        var p = Path.Combine([Root, .. parts]);
        if (!System.IO.File.Exists(p) && !Directory.Exists(p))
            throw new FileNotFoundException($"Shared test file '{p}' is missing. Check out ../shared beside the repository or set RAGTUNE_SHARED.", p);
        return p;
    }

    /// <summary>A path under the repository root.</summary>
    public static string Repo(params string[] parts) => Path.Combine([RepoRoot, .. parts]);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "RagTune.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("Cannot find RagTune.slnx above " + AppContext.BaseDirectory);
    }
}

/// <summary>A temporary folder deleted when disposed.</summary>
public sealed class TempDir : IDisposable
{
    /// <summary>Creates a fresh folder under the system temp directory.</summary>
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ragtune-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>A file path inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <inheritdoc />
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
