using Npgsql;

namespace RagTune.Rag.Postgres;

/// <summary>
/// Accepts both forms users have at hand: Npgsql's <c>Key=Value;…</c> and the <c>postgres://user:pw@host:port/db?sslmode=…</c>
/// URL that libpq, psql and hosting providers print. Also what a message may show of one (never the password).
/// </summary>
internal static class PostgresConnectionString
{
    /// <summary>True when <paramref name="value"/> names a PostgreSQL database (URL or Npgsql keywords), as <c>--store</c> tells one from a folder.</summary>
    public static bool Looks(string? value) =>
        value is { Length: > 0 } v
        && (v.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || v.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
            || v.Contains("Host=", StringComparison.OrdinalIgnoreCase));

    /// <summary>The Npgsql form of <paramref name="value"/> (a URL is converted; keywords pass through).</summary>
    public static string Normalize(string value)
    {
        if (!value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) && !value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return value;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            throw new ArgumentException($"'{Redacted(value)}' is not a valid postgres:// URL (postgres://user:password@host:5432/database).");
        var b = new NpgsqlConnectionStringBuilder { Host = uri.Host };
        if (uri.Port > 0) b.Port = uri.Port;
        if (uri.UserInfo is { Length: > 0 } info)
        {
            int colon = info.IndexOf(':', StringComparison.Ordinal);
            b.Username = Uri.UnescapeDataString(colon < 0 ? info : info[..colon]);
            if (colon >= 0) b.Password = Uri.UnescapeDataString(info[(colon + 1)..]);
        }
        if (uri.AbsolutePath.Trim('/') is { Length: > 0 } db) b.Database = Uri.UnescapeDataString(db);
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var val = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            b[key.Equals("sslmode", StringComparison.OrdinalIgnoreCase) ? "SSL Mode" : key] = val;
        }
        return b.ConnectionString;
    }

    /// <summary>host:port/database, for messages and <c>collections list</c> (no user, no password).</summary>
    public static string Describe(string value)
    {
        try
        {
            var b = new NpgsqlConnectionStringBuilder(Normalize(value));
            return $"postgres://{b.Host}:{b.Port}/{b.Database ?? b.Username ?? "postgres"}";
        }
        catch (ArgumentException)
        {
            return "postgres (connection string not readable)";
        }
    }

    private static string Redacted(string url)
    {
        int at = url.IndexOf('@', StringComparison.Ordinal), scheme = url.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? url[..(scheme + 3)] + "…" + url[at..] : url;
    }
}
