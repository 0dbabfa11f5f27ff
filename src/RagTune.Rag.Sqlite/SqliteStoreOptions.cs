using RagTune.Rag.Store;

namespace RagTune.Rag.Sqlite;

/// <summary>Where collections live and how keyword search weighs a chunk's title.</summary>
public sealed record SqliteStoreOptions
{
    /// <summary>Environment variable that overrides the default data directory.</summary>
    public const string DataDirEnvironmentVariable = RagTuneDataDirectory.EnvironmentVariable;

    /// <summary>
    /// The data directory; collections are <c>&lt;data&gt;/collections/&lt;name&gt;.db</c>. Null means
    /// <c>$RAGTUNE_DATA_DIR</c>, else <c>~/.ragtune</c>.
    /// </summary>
    public string? DataDirectory { get; init; }

    /// <summary>
    /// BM25 weight of the title column (document title and heading path) relative to the chunk text (1.0).
    /// FTS5 sums column-weighted term frequencies, so 1.0 is the same as indexing "title + text" as one field
    /// (what BEIR's BM25 baseline does).
    /// </summary>
    public double TitleWeight { get; init; } = 1.0;

    /// <summary>
    /// Answer BM25 queries from postings held in memory (<see cref="KeywordIndex"/>: the same rows, scores and
    /// order as FTS5's <c>bm25()</c>, several times faster on large collections) instead of FTS5 scoring every
    /// matching row. Default true; false is the reference path (and what a query with a multi-token word uses).
    /// </summary>
    public bool InMemoryKeywordIndex { get; init; } = true;

    /// <summary>
    /// Find the nearest vectors with an int8 pass over every row and a float pass over the few rows it cannot rule
    /// out (<see cref="VectorMatrix.TopKInt8Filtered"/>: the same rows, scores and order as the float scan, which
    /// reads four times the memory). Default true; false is the reference float scan.
    /// </summary>
    public bool Int8VectorFilter { get; init; } = true;

    /// <summary>The resolved data directory (option, then environment variable, then <c>~/.ragtune</c>).</summary>
    public string ResolvedDataDirectory => ResolveDataDirectory(DataDirectory);

    /// <summary>The folder holding the collection files.</summary>
    public string CollectionsDirectory => Path.Combine(ResolvedDataDirectory, "collections");

    /// <summary>The file of collection <paramref name="name"/> (validated).</summary>
    public string CollectionPath(string name)
    {
        CollectionNames.Validate(name);
        return Path.Combine(CollectionsDirectory, name + ".db");
    }

    /// <summary>Option, then <c>$RAGTUNE_DATA_DIR</c>, then <c>~/.ragtune</c>.</summary>
    public static string ResolveDataDirectory(string? explicitDirectory) => RagTuneDataDirectory.Resolve(explicitDirectory);
}
