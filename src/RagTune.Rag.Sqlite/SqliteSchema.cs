using System.Globalization;
using Microsoft.Data.Sqlite;
using RagTune.Rag.Store;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// The collection file format: a <c>meta</c> table naming the format and its version, documents, chunks, an FTS5
/// index over chunk text (external content: the index stores no second copy of the text) and normalised float32
/// vectors. Checked on every open; a file we do not recognise is refused and never modified.
/// </summary>
internal static class SqliteSchema
{
    public const string FormatName = "ragtune-collection";
    public const int Version = 1;

    // Meta keys.
    public const string KeyFormat = "format";
    public const string KeyVersion = "schema_version";
    public const string KeyEmbeddingModel = "embedding_model";
    public const string KeyEmbeddingDimensions = "embedding_dimensions";
    /// <summary>Bumped by every write; readers compare it to reuse their in-memory vector matrix.</summary>
    public const string KeyWriteVersion = "write_version";

    /// <summary>
    /// The FTS5 tokenizer of the keyword index: porter over unicode61, English stemming on Unicode-aware word
    /// splitting, diacritics folded. Query words are analysed by this same tokenizer (<see cref="Fts5QueryTerms"/>).
    /// </summary>
    public const string Tokenizer = "porter unicode61 remove_diacritics 2";

    private const string Ddl = $"""
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE documents(
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            title TEXT NOT NULL,
            hash TEXT NOT NULL,
            metadata TEXT NOT NULL,          -- JSON object of string values
            updated_at TEXT NOT NULL         -- ISO 8601 UTC
        );
        CREATE TABLE chunks(
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a stale id cannot name another chunk
            document_id TEXT NOT NULL REFERENCES documents(id),
            idx INTEGER NOT NULL,
            text TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            heading_path TEXT NOT NULL,      -- JSON array, outermost first
            token_count INTEGER NOT NULL,
            fts_title TEXT NOT NULL          -- exactly what the FTS title column indexed (needed to delete it)
        );
        CREATE INDEX chunks_document ON chunks(document_id, idx);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            fts_title, text, content='chunks', content_rowid='id', tokenize='{Tokenizer}');
        CREATE TABLE vectors(
            chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id),
            vector BLOB NOT NULL             -- float32 little-endian, L2-normalised at write
        );
        """;

    /// <summary>
    /// Creates the schema in an empty database (one IMMEDIATE transaction; a process that created it first wins
    /// and the others find it made).
    /// </summary>
    public static void Create(SqliteConnection connection)
    {
        using var tx = connection.BeginTransaction(deferred: false);
        using (var check = connection.CreateCommand())
        {
            check.Transaction = tx;
            check.CommandText = "SELECT count(*) FROM sqlite_master";
            if (Convert.ToInt64(check.ExecuteScalar(), CultureInfo.InvariantCulture) > 0) return;
        }
        Exec(connection, tx, Ddl);
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO meta(key, value) VALUES ($k1, $v1), ($k2, $v2), ($k3, '0')";
        cmd.Parameters.AddWithValue("$k1", KeyFormat);
        cmd.Parameters.AddWithValue("$v1", FormatName);
        cmd.Parameters.AddWithValue("$k2", KeyVersion);
        cmd.Parameters.AddWithValue("$v2", Version.ToString(CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("$k3", KeyWriteVersion);
        cmd.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>
    /// Checks an existing file through a read-only connection. Returns false for an empty database (no tables:
    /// a creation that never committed), which the caller may initialise; throws for anything not ours.
    /// </summary>
    public static bool Check(string path)
    {
        SqliteChunkStore.EnsureSqlite();
        var cs = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        try
        {
            using var c = new SqliteConnection(cs);
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM sqlite_master";
            if (Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) == 0) return false;
            cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'";
            if (Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) == 0)
                throw Foreign(path, "it has no 'meta' table");
            cmd.CommandText = "SELECT value FROM meta WHERE key = 'format'";
            var format = cmd.ExecuteScalar() as string;
            if (format != FormatName) throw Foreign(path, $"its format is '{format ?? "(none)"}'");
            cmd.CommandText = "SELECT value FROM meta WHERE key = 'schema_version'";
            if (!int.TryParse(cmd.ExecuteScalar() as string, NumberStyles.Integer, CultureInfo.InvariantCulture, out int version))
                throw Foreign(path, "its schema version is missing or not a number");
            if (version > Version)
                throw new CollectionFormatException(
                    $"'{path}' is a {FormatName} file of schema version {version}, newer than this RagTune understands ({Version}). " +
                    "Upgrade RagTune; the file was not modified.");
            if (version < 1)
                throw Foreign(path, $"its schema version {version} is not valid");
            return true;
        }
        catch (SqliteException e)
        {
            throw new CollectionFormatException(
                $"'{path}' is not a readable SQLite {FormatName} file ({e.Message.TrimEnd('.')}). Move it away or pick another collection name; the file was not modified.");
        }
    }

    private static CollectionFormatException Foreign(string path, string why) =>
        new($"'{path}' is not a RagTune collection ({why}; expected format '{FormatName}'). Move it away or pick another collection name; the file was not modified.");

    public static void Exec(SqliteConnection connection, SqliteTransaction? tx, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
