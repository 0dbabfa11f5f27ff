using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using RagTune.TestKit;
using RagTune.TestKit.Stores;
using Xunit.Abstractions;

namespace RagTune.Cli.Tests.Rag;

/// <summary>
/// Crash safety of <c>ragtune ingest</c> (issue 20): the real CLI, updating every document of an embedded
/// collection, killed with SIGKILL at a seeded random moment, on both stores. After each kill the collection must
/// open, pass the store's integrity checks (SQLite's and the FTS index's; PostgreSQL's postings and vectors against
/// the chunks), hold each document whole in its old or its new version (never a mix of chunks), keep a vector for
/// every chunk, and a rerun must finish the rest: it updates exactly the documents still old and leaves the finished
/// ones unchanged (not re-embedded).
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class IngestKillTests(ITestOutputHelper output)
{
    private const int Documents = 320; // five write batches of 64: a kill can land between them
    private const int Kills = 6;

    [Fact]
    public void Ingest_killed_at_random_points_leaves_every_document_old_or_new_and_a_rerun_finishes()
    {
        using var dir = new TempDir();
        string data = dir.File("data");
        KillAndRerun(dir, ["--data-dir", data], version => CheckSqlite(Directory.GetFiles(data, "kb.db", SearchOption.AllDirectories).Single(), version), seed: 20);
    }

    // PostgreSQL: a PGlite server of this test's own (one backend that pglite-socket shares; another test process's
    // statements must not interleave with a connection killed mid-transaction, which it rolls back).
    [Fact]
    public void Ingest_into_postgresql_killed_at_random_points_leaves_every_document_old_or_new_and_a_rerun_finishes()
    {
        using var dir = new TempDir();
        using var server = PgliteProcess.Start(dir.File("pglite.port"));
        KillAndRerun(dir, ["--store", server.ConnectionString], version => CheckPostgres(server.ConnectionString, version), seed: 21);
    }

    private void KillAndRerun(TempDir dir, string[] storeArgs, Func<int, (int Newer, int Older)> check, int seed)
    {
        var docs = Directory.CreateDirectory(dir.File("docs")).FullName;
        string model = dir.File("encoder");
        Assert.Equal(0, CliProcess.Run("embed", "create-random", "--preset", "tiny", "--seed", "1", "--out", model).ExitCode);
        string[] Ingest() => ["ingest", docs, "--collection", "kb", .. storeArgs, "--embed-model", model, "--chunk-tokens", "24", "--overlap", "0"];

        WriteDocuments(docs, version: 1);
        var first = CliProcess.Run(TimeSpan.FromSeconds(300), Ingest());
        Assert.True(first.ExitCode == 0, first.Stderr);
        // An uninterrupted update of every document, timed: the kills below are spread over its span.
        WriteDocuments(docs, version: 2);
        var sw = Stopwatch.StartNew();
        var update = CliProcess.Run(TimeSpan.FromSeconds(300), Ingest());
        Assert.True(update.ExitCode == 0, update.Stderr);
        var full = sw.Elapsed;
        Assert.Equal((Documents, 0), check(2));

        var rng = new Random(seed);
        int survived = 0, interrupted = 0;
        // Until Kills runs were cut short (at most twice as many tries): a run that finishes before its kill was
        // faster than the timed one (a busy machine slowed that), and the span shrinks to what it took.
        for (int attempt = 0; interrupted < Kills && attempt < 2 * Kills; attempt++)
        {
            int version = attempt + 3;
            WriteDocuments(docs, version);
            // One seeded moment in each sixth of the span from 30% (start-up, reading) to the end.
            var delay = full * (0.3 + 0.7 * (interrupted + rng.NextDouble()) / Kills);
            var ran = ProcessKill.RunAndKill(Ingest(), delay);
            bool killed = ran == null;
            if (killed) interrupted++;
            else if (ran < full) full = ran.Value;

            var (newer, older) = check(version);
            var rerun = CliProcess.Run(TimeSpan.FromSeconds(300), Ingest());
            Assert.True(rerun.ExitCode == 0, rerun.Stderr);
            var m = SummaryLine().Match(rerun.Stdout);
            Assert.True(m.Success, rerun.Stdout);
            Assert.Equal((0, older, newer), (int.Parse(m.Groups["added"].Value), int.Parse(m.Groups["updated"].Value), int.Parse(m.Groups["unchanged"].Value)));
            Assert.Equal((Documents, 0), check(version));
            Assert.True(!killed || newer % 64 == 0, $"{newer} new documents after a kill: not whole batches of 64");
            output.WriteLine($"run {attempt}: after {delay.TotalMilliseconds:F0} ms ({(killed ? "killed" : $"had finished in {ran!.Value.TotalMilliseconds:F0} ms")}), {newer} documents new and {older} old; rerun updated {older}");
            survived++;
        }
        output.WriteLine($"{survived} runs consistent ({interrupted} killed mid-run); the span ended at {full.TotalSeconds:F1} s");
        Assert.True(interrupted == Kills, $"only {interrupted} of {survived} kills landed before the ingest finished: the test did not exercise {Kills} crashes");
    }

    /// <summary>Documents whose every chunk names their version, so a half-written document shows as a mix.</summary>
    private static void WriteDocuments(string folder, int version)
    {
        for (int d = 0; d < Documents; d++)
        {
            var paragraphs = Enumerable.Range(0, 2).Select(p => $"Paragraph {p} of document {d} in version v{version}: " +
                string.Join(' ', Enumerable.Range(0, 18).Select(w => $"w{(d * 31 + p * 7 + w * version) % 997}")) + $" (v{version}).");
            File.WriteAllText(Path.Combine(folder, $"doc{d:D3}.md"), $"# Document {d}\n\n" + string.Join("\n\n", paragraphs) + "\n");
        }
    }

    /// <summary>The SQLite collection's consistency; returns how many documents hold <paramref name="version"/> and how many the version before.</summary>
    private static (int Newer, int Older) CheckSqlite(string db, int version)
    {
        using var c = new SqliteConnection($"Data Source={db};Mode=ReadWrite;Pooling=False");
        c.Open();
        Assert.Equal("ok", Scalar(c, "PRAGMA integrity_check"));
        Scalar(c, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)"); // throws when the index and the chunks differ
        Assert.Equal(Documents, Convert.ToInt32(Scalar(c, "SELECT count(*) FROM documents")));
        Assert.Equal(Scalar(c, "SELECT count(*) FROM chunks"), Scalar(c, "SELECT count(*) FROM vectors"));
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT document_id, group_concat(text, ' ') FROM chunks GROUP BY document_id";
        using var r = cmd.ExecuteReader();
        var texts = new List<(string, string)>();
        while (r.Read()) texts.Add((r.GetString(0), r.GetString(1)));
        return Versions(texts, version);
    }

    /// <summary>
    /// The PostgreSQL collection's consistency (schema <c>ragtune_c&lt;n&gt;</c> of the default prefix): every chunk has
    /// its vector and its postings, no posting or vector names a chunk that is gone (postings have no foreign key: the
    /// store deletes them in the chunk's transaction), and each document is one version.
    /// </summary>
    private static (int Newer, int Older) CheckPostgres(string connectionString, int version)
    {
        using var c = new NpgsqlConnection(connectionString);
        c.Open();
        long number = Convert.ToInt64(Scalar(c, "SELECT number FROM ragtune.collections WHERE name = 'kb'"), System.Globalization.CultureInfo.InvariantCulture);
        string s = $"ragtune_c{number}";
        Assert.Equal(Documents, Convert.ToInt32(Scalar(c, $"SELECT count(*) FROM {s}.documents"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Scalar(c, $"SELECT count(*) FROM {s}.chunks"), Scalar(c, $"SELECT count(*) FROM {s}.vectors"));
        Assert.Equal(0L, Scalar(c, $"SELECT count(*) FROM {s}.postings p WHERE NOT EXISTS (SELECT 1 FROM {s}.chunks k WHERE k.id = p.chunk_id)"));
        Assert.Equal(0L, Scalar(c, $"SELECT count(*) FROM {s}.chunks k WHERE NOT EXISTS (SELECT 1 FROM {s}.postings p WHERE p.chunk_id = k.id)"));
        using var cmd = new NpgsqlCommand($"SELECT document_id, string_agg(text, ' ' ORDER BY idx) FROM {s}.chunks GROUP BY document_id", c);
        using var r = cmd.ExecuteReader();
        var texts = new List<(string, string)>();
        while (r.Read()) texts.Add((r.GetString(0), r.GetString(1)));
        return Versions(texts, version);
    }

    // Each document's chunks must name one version, this one or the one before.
    private static (int Newer, int Older) Versions(List<(string Document, string Text)> documents, int version)
    {
        int newer = 0, older = 0;
        foreach (var (document, text) in documents)
        {
            var versions = VersionTag().Matches(text).Select(m => int.Parse(m.Groups[1].Value)).Distinct().ToList();
            Assert.True(versions.Count == 1, $"{document} mixes versions {string.Join(", ", versions)}");
            if (versions[0] == version) newer++;
            else if (versions[0] == version - 1) older++;
            else Assert.Fail($"{document} holds version {versions[0]}, expected {version - 1} or {version}");
        }
        Assert.Equal(Documents, newer + older);
        return (newer, older);
    }

    private static object? Scalar(NpgsqlConnection c, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, c);
        return cmd.ExecuteScalar();
    }

    private static object? Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    [GeneratedRegex(@"\(v(\d+)\)")]
    private static partial Regex VersionTag();

    [GeneratedRegex(@"added (?<added>\d+), updated (?<updated>\d+), unchanged (?<unchanged>\d+)")]
    private static partial Regex SummaryLine();
}
