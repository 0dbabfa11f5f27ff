using System.Collections.Concurrent;
using Npgsql;
using Pgvector.Npgsql;

namespace RagTune.Rag.Postgres;

/// <summary>
/// One pooled <see cref="NpgsqlDataSource"/> per connection string for the process's lifetime (catalogs are not
/// disposable and are cheap to make, the pool is what must be shared). Makes sure pgvector is installed before the
/// data source loads its types, so <c>vector</c> parameters map.
/// </summary>
internal static class PostgresDataSources
{
    private static readonly ConcurrentDictionary<string, Lazy<NpgsqlDataSource>> s_sources = new(StringComparer.Ordinal);

    public static NpgsqlDataSource For(string connectionString)
    {
        var normalized = PostgresConnectionString.Normalize(connectionString);
        var lazy = s_sources.GetOrAdd(normalized, cs => new Lazy<NpgsqlDataSource>(() => Create(cs)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            s_sources.TryRemove(new KeyValuePair<string, Lazy<NpgsqlDataSource>>(normalized, lazy)); // let a later call retry
            throw;
        }
    }

    private static NpgsqlDataSource Create(string connectionString)
    {
        EnsureVectorExtension(connectionString);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        return builder.Build();
    }

    private static void EnsureVectorExtension(string connectionString)
    {
        var where = PostgresConnectionString.Describe(connectionString);
        try
        {
            // Pooling off: this connection loaded types before pgvector existed; it must not be reused.
            using var c = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
            c.Open();
            using var has = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')", c);
            if ((bool)has.ExecuteScalar()!) return;
            try
            {
                using var create = new NpgsqlCommand("CREATE EXTENSION IF NOT EXISTS vector", c);
                create.ExecuteNonQuery();
            }
            catch (PostgresException e)
            {
                throw new InvalidOperationException(
                    $"The database at {where} has no pgvector extension and it could not be created ({e.MessageText}). " +
                    "Install pgvector on the server and run 'CREATE EXTENSION vector;' in the database as a user allowed to (see docs/postgres.md).", e);
            }
        }
        catch (NpgsqlException e) when (e is not PostgresException)
        {
            throw new InvalidOperationException(
                $"Cannot connect to PostgreSQL at {where} ({e.Message.TrimEnd('.')}). Check the store's connection string (--store, RagTune:Store:ConnectionString) and that the server is running.", e);
        }
    }
}
