using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using RagTune.Rag.Ingestion;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// The chunk-vector cache on disk: one SQLite file per model under <c>&lt;data-dir&gt;/vector-cache/</c>, named by the
/// sha256 of the model key (the weights' sha256 and the settings that change the vectors), holding
/// <c>vectors(text_sha256 BLOB PRIMARY KEY, vector BLOB)</c> with little-endian float32 vectors and a <c>meta</c> table
/// (format <c>ragtune-vector-cache</c> v1 and the model key) checked on open. Deleting the folder is
/// always safe: vectors are embedded again.
/// </summary>
public sealed class SqliteVectorCache : IVectorCache, IDisposable
{
    /// <summary>The format name the cache file's <c>meta</c> table carries (checked on open).</summary>
    public const string FormatName = "ragtune-vector-cache";

    /// <summary>The cache file's format version; another one is refused on open.</summary>
    public const int FormatVersion = 1;
    private readonly SqliteConnection _c;

    private SqliteVectorCache(string path, SqliteConnection c)
    {
        Path = path;
        _c = c;
    }

    /// <summary>The cache file.</summary>
    public string Path { get; }

    /// <summary>Opens (creating) the cache of <paramref name="modelKey"/> in <paramref name="folder"/>.</summary>
    /// <exception cref="InvalidDataException">The file belongs to another format, version or model.</exception>
    public static SqliteVectorCache Open(string folder, string modelKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelKey);
        SqliteChunkStore.EnsureSqlite();
        Directory.CreateDirectory(folder);
        var path = System.IO.Path.Combine(folder, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(modelKey)))[..24] + ".db");
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        try
        {
            c.Open();
            SqliteSchema.Exec(c, null, "PRAGMA busy_timeout=30000; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                + "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                + "CREATE TABLE IF NOT EXISTS vectors(text_sha256 BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID;");
            using (var tx = c.BeginTransaction())
            {
                Meta(c, tx, "format", FormatName);
                Meta(c, tx, "version", FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Meta(c, tx, "model", modelKey);
                tx.Commit();
            }
            return new SqliteVectorCache(path, c);
        }
        catch
        {
            c.Dispose();
            throw;
        }

        void Meta(SqliteConnection conn, SqliteTransaction tx, string key, string value)
        {
            using var get = conn.CreateCommand();
            get.Transaction = tx;
            get.CommandText = "SELECT value FROM meta WHERE key = $k";
            get.Parameters.AddWithValue("$k", key);
            if (get.ExecuteScalar() is string have)
            {
                if (have != value)
                    throw new InvalidDataException($"{path}: meta '{key}' is '{have}', expected '{value}'; this is not the vector cache of this model (or of this version). Delete the file.");
                return;
            }
            using var put = conn.CreateCommand();
            put.Transaction = tx;
            put.CommandText = "INSERT INTO meta(key, value) VALUES ($k, $v)";
            put.Parameters.AddWithValue("$k", key);
            put.Parameters.AddWithValue("$v", value);
            put.ExecuteNonQuery();
        }
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<int, float[]> Get(IReadOnlyList<byte[]> keys)
    {
        var found = new Dictionary<int, float[]>();
        using var cmd = _c.CreateCommand();
        cmd.CommandText = "SELECT vector FROM vectors WHERE text_sha256 = $k";
        var p = cmd.Parameters.Add("$k", SqliteType.Blob);
        for (int i = 0; i < keys.Count; i++)
        {
            p.Value = keys[i];
            if (cmd.ExecuteScalar() is byte[] blob) found[i] = MemoryMarshal.Cast<byte, float>(blob).ToArray();
        }
        return found;
    }

    /// <inheritdoc />
    public void Put(IReadOnlyList<(byte[] Key, float[] Vector)> entries)
    {
        using var tx = _c.BeginTransaction();
        using var cmd = _c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR IGNORE INTO vectors(text_sha256, vector) VALUES ($k, $v)";
        var k = cmd.Parameters.Add("$k", SqliteType.Blob);
        var v = cmd.Parameters.Add("$v", SqliteType.Blob);
        foreach (var (key, vector) in entries)
        {
            k.Value = key;
            v.Value = MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>Closes the cache file.</summary>
    public void Dispose() => _c.Dispose();
}
