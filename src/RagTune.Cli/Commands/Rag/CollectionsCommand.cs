using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RagTune.Hosting.Collections;
using RagTune.Rag.Store;
using Spectre.Console;

namespace RagTune.Cli.Commands.Rag;

/// <summary><c>ragtune collections list|stats|delete|reembed</c>.</summary>
internal static class CollectionsCommand
{
    public static Command Create()
    {
        var cmd = new Command("collections", "List, inspect, delete and re-embed collections");
        cmd.Subcommands.Add(List());
        cmd.Subcommands.Add(Stats());
        cmd.Subcommands.Add(Delete());
        cmd.Subcommands.Add(ReembedCommand.Create());
        return cmd;
    }

    private static Command List()
    {
        var dataDir = RagCliOptions.DataDir();
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var cmd = new Command("list", "List collections with their sizes") { dataDir, json };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var collections = RagCliOptions.Catalog(r, r.GetValue(dataDir));
            var rows = new List<CollectionInfo>();
            foreach (var name in collections.List())
            {
                try { rows.Add(CollectionInfo.From(await collections.StatsAsync(name, ct), null)); }
                catch (CollectionFormatException e) { rows.Add(CollectionInfo.Unreadable(name, e.Message)); }
            }
            if (r.GetValue(json)) { Console.Out.WriteLine(JsonSerializer.Serialize(rows, RagJson.Readable.ListCollectionInfo)); return 0; }
            if (rows.Count == 0) { Console.Out.WriteLine($"no collections in {collections.Location}"); return 0; }
            var table = new Table().AddColumns("name", "documents", "chunks", "embedded", "size", "embedding model");
            foreach (var c in rows)
                table.AddRow(Markup.Escape(c.Name), Num(c.Documents), Num(c.Chunks), Num(c.EmbeddedChunks), Size(c.FileBytes),
                    Markup.Escape(c.Error ?? c.EmbeddingModel ?? "(BM25 only)"));
            RagConsole.Out.Write(table);
            return 0;
        }));
        return cmd;
    }

    private static Command Stats()
    {
        var name = new Argument<string>("name") { Description = "Collection name" };
        var dataDir = RagCliOptions.DataDir();
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var cmd = new Command("stats", "Counts and sizes of one collection") { name, dataDir, json };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var collections = RagCliOptions.Catalog(r, r.GetValue(dataDir));
            var s = await collections.StatsAsync(r.GetValue(name)!, ct);
            var row = CollectionInfo.From(s, collections.LocationOf(s.Name));
            if (r.GetValue(json)) { Console.Out.WriteLine(JsonSerializer.Serialize(new List<CollectionInfo> { row }, RagJson.Readable.ListCollectionInfo)); return 0; }
            Console.Out.WriteLine($"collection:  {s.Name}");
            Console.Out.WriteLine($"file:        {row.Location}");
            Console.Out.WriteLine($"documents:   {Num(s.Documents)}");
            Console.Out.WriteLine($"chunks:      {Num(s.Chunks)} ({Num(s.EmbeddedChunks)} embedded)");
            Console.Out.WriteLine($"embedding:   {(s.Embedding is { } e ? $"{e.ModelId} ({e.Dimensions} dimensions)" : "none (BM25 only)")}");
            Console.Out.WriteLine($"size:        {Size(s.FileBytes)}");
            Console.Out.WriteLine($"schema:      {collections.FormatName} v{s.SchemaVersion}");
            return 0;
        }));
        return cmd;
    }

    private static Command Delete()
    {
        var name = new Argument<string>("name") { Description = "Collection name" };
        var dataDir = RagCliOptions.DataDir();
        var cmd = new Command("delete", "Delete a collection (its .db, -wal and -shm files)") { name, dataDir };
        cmd.SetAction((r, ct) => CliRun.Guard(() =>
        {
            var collections = RagCliOptions.Catalog(r, r.GetValue(dataDir));
            var n = r.GetValue(name)!;
            if (!collections.Delete(n)) throw new CollectionNotFoundException($"There is no collection '{n}' in {collections.Location}.");
            Console.Out.WriteLine($"deleted collection '{n}'");
            return 0;
        }));
        return cmd;
    }

    private static string Num(int n) => n.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):F1} MiB"),
    };
}
