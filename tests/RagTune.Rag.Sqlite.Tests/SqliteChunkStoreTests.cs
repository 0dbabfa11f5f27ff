using Microsoft.Data.Sqlite;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;
using RagTune.TestKit;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Sqlite.Tests;

/// <summary>The SQLite store's own behaviour: files, what it refuses to open, its FTS5 query. The contract tests are in SqliteBackend.cs.</summary>
public sealed class SqliteChunkStoreTests
{
    [Fact]
    public void Fts_query_quotes_and_ors_distinct_words()
    {
        Assert.Equal("\"what\" OR \"c\" OR \"x2\" OR \"café\"", FtsQuery.Build("What is C#? \"x2\" is café")); // stopword "is" dropped
        Assert.Equal("\"the\" OR \"of\"", FtsQuery.Build("The of the"));                                      // unless all are stopwords
        Assert.Null(FtsQuery.Build("--- ***"));
    }

    [Fact]
    public async Task A_foreign_sqlite_file_is_refused_and_left_untouched()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        var path = options.CollectionPath("other");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        SqliteChunkStore.EnsureSqlite();
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('mine');";
            cmd.ExecuteNonQuery();
        }
        var before = File.ReadAllBytes(path);
        var e = Assert.Throws<CollectionFormatException>(() => SqliteChunkStore.Open("other", options));
        Assert.Contains(path, e.Message);
        Assert.Contains("not a RagTune collection", e.Message);
        Assert.Throws<CollectionFormatException>(() => new SqliteCollections(options).Delete("other"));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + "-wal"));
    }

    [Fact]
    public void A_file_that_is_not_sqlite_is_refused_and_left_untouched()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        var path = options.CollectionPath("junk");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var junk = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray();
        File.WriteAllBytes(path, junk);
        var e = Assert.Throws<CollectionFormatException>(() => SqliteChunkStore.Open("junk", options));
        Assert.Contains(path, e.Message);
        Assert.Equal(junk, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task A_newer_schema_version_is_refused_and_left_untouched()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        string path;
        using (var store = SqliteChunkStore.Open("future", options))
        {
            await store.WriteBatchAsync([StoreData.Write("a", "x")], null);
            path = store.FilePath;
        }
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE meta SET value = '99' WHERE key = 'schema_version'; PRAGMA wal_checkpoint(TRUNCATE);";
            cmd.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();
        var before = File.ReadAllBytes(path);
        var e = Assert.Throws<CollectionFormatException>(() => SqliteChunkStore.Open("future", options));
        Assert.Contains("schema version 99", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task Deleting_a_collection_removes_its_file_and_wal_files()
    {
        using var dir = new TempDir();
        var options = new SqliteStoreOptions { DataDirectory = dir.Path };
        using (var store = SqliteChunkStore.Open("zeta", options)) await store.WriteBatchAsync([StoreData.Write("a", "one. two")], null);
        using (var store = SqliteChunkStore.Open("zeta-2", options)) await store.WriteBatchAsync([StoreData.Write("a", "one. two")], null);
        Assert.True(new SqliteCollections(options).Delete("zeta"));
        Assert.Empty(Directory.EnumerateFiles(options.CollectionsDirectory, "zeta.*"));
        Assert.NotEmpty(Directory.EnumerateFiles(options.CollectionsDirectory, "zeta-2.*"));
    }

    [Fact]
    public void Data_directory_comes_from_option_then_environment_then_home()
    {
        Assert.Equal(Path.GetFullPath("/tmp/x"), SqliteStoreOptions.ResolveDataDirectory("/tmp/x"));
        var fromEnvOrHome = SqliteStoreOptions.ResolveDataDirectory(null);
        var env = Environment.GetEnvironmentVariable(SqliteStoreOptions.DataDirEnvironmentVariable);
        Assert.Equal(string.IsNullOrEmpty(env)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ragtune")
            : Path.GetFullPath(env), fromEnvOrHome);
        Assert.Equal(Path.Combine("/d", "collections", "n.db"), new SqliteStoreOptions { DataDirectory = "/d" }.CollectionPath("n"));
    }

    /// <summary>SQLite's own checks: the file, and the FTS index against its content table.</summary>
    internal static void AssertFtsConsistent(string path)
    {
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", cmd.ExecuteScalar());
        cmd.CommandText = "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')";
        cmd.ExecuteNonQuery(); // throws SQLITE_CORRUPT_VTAB when the index disagrees with the chunks table
        cmd.CommandText = "SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)";
        Assert.Equal(0L, cmd.ExecuteScalar());
    }
}
