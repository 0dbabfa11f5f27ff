namespace RagTune.Rag.Store;

// The collections of one store as the layers above it see them: they open, list, inspect and delete collections by
// name without knowing where or how a store keeps them (SQLite files now, PostgreSQL later). Which store backs the
// catalog is decided in one place, RagTune.Hosting's composition of the store.

/// <summary>A collection as a catalog opens it: searchable and writable (<see cref="IChunkStore"/>) and re-embeddable (<see cref="IReembedStore"/>).</summary>
public interface ICollectionStore : IChunkStore, IReembedStore;

/// <summary>The collections of one store: open or create, list, stats, delete.</summary>
public interface ICollectionCatalog
{
    /// <summary>Where the collections are, as a message shows it (the SQLite store: its collections folder).</summary>
    string Location { get; }

    /// <summary>The format name the store's collections carry; shown with <see cref="CollectionStats.SchemaVersion"/>.</summary>
    string FormatName { get; }

    /// <summary>Names of the collections present (valid names only), sorted ordinally.</summary>
    IReadOnlyList<string> List();

    /// <summary>True when collection <paramref name="name"/> (validated) exists.</summary>
    bool Exists(string name);

    /// <summary>Where collection <paramref name="name"/> is kept, as a message shows it (the SQLite store: its file).</summary>
    string LocationOf(string name);

    /// <summary>Opens collection <paramref name="name"/>, creating it empty when <paramref name="create"/> is true and it does not exist.</summary>
    /// <exception cref="CollectionNotFoundException">It does not exist and <paramref name="create"/> is false.</exception>
    /// <exception cref="CollectionFormatException">What is stored under the name is not a RagTune collection, or is from a newer version.</exception>
    ICollectionStore Open(string name, bool create);

    /// <summary>
    /// Removes whatever is stored under <paramref name="name"/>, a RagTune collection or not, and opens it newly
    /// created. Only for work collections a run owns (a comparison's), never for the user's.
    /// </summary>
    ICollectionStore Recreate(string name);

    /// <summary>Counts and sizes of an existing collection.</summary>
    /// <exception cref="CollectionNotFoundException">It does not exist.</exception>
    Task<CollectionStats> StatsAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Deletes the collection; what is not a RagTune collection is refused (<see cref="CollectionFormatException"/>). False when there was none.</summary>
    bool Delete(string name);
}

/// <summary>Stores may turn collection names into file or table names, so only letters, digits, '-' and '_' are allowed.</summary>
public static class CollectionNames
{
    /// <summary>The longest name allowed, in characters.</summary>
    public const int MaxLength = 100;

    /// <summary>True when <paramref name="name"/> is 1 to <see cref="MaxLength"/> ASCII letters, digits, '-' or '_'.</summary>
    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxLength && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Throws unless <see cref="IsValid"/>; the message says which characters are allowed.</summary>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    public static void Validate(string? name)
    {
        if (!IsValid(name))
            throw new ArgumentException(
                $"'{name}' is not a valid collection name: use 1-{MaxLength} ASCII letters, digits, '-' or '_' (e.g. 'my-docs').", nameof(name));
    }
}

/// <summary>RagTune's data directory (collections, uploads, caches, runs), wherever the store keeps the collections themselves.</summary>
public static class RagTuneDataDirectory
{
    /// <summary>Environment variable that overrides the default data directory.</summary>
    public const string EnvironmentVariable = "RAGTUNE_DATA_DIR";

    /// <summary>The explicit directory, then <c>$RAGTUNE_DATA_DIR</c>, then <c>~/.ragtune</c>; full paths.</summary>
    public static string Resolve(string? explicitDirectory)
    {
        if (!string.IsNullOrWhiteSpace(explicitDirectory)) return Path.GetFullPath(explicitDirectory);
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env) return Path.GetFullPath(env);
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ragtune");
    }
}

/// <summary>A stored collection that is not ours, or is from a newer RagTune; it is left untouched.</summary>
public sealed class CollectionFormatException(string message) : IOException(message);

/// <summary>The named collection does not exist.</summary>
public sealed class CollectionNotFoundException(string message) : IOException(message);
