namespace RagTune.Hosting.Stores;

/// <summary>A data directory under the system temp folder for throwaway collections (evaluations, benchmarks), deleted on dispose.</summary>
public sealed class TempDataDir : IDisposable
{
    /// <summary>The directory's path; created by the first store that writes there.</summary>
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ragtune-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>Closes pooled SQLite connections (which keep the files open) and deletes the directory, ignoring what cannot be deleted.</summary>
    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
