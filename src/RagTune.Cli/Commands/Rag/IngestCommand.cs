using System.CommandLine;
using RagTune.Hosting.Pipelines;
using RagTune.Rag.Chunking;
using RagTune.Rag.Ingestion;
using Spectre.Console;

namespace RagTune.Cli.Commands.Rag;

/// <summary><c>ragtune ingest</c>: read, chunk, (embed,) and store documents into a collection, incrementally.</summary>
internal static class IngestCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "Files, folders or globs (e.g. 'docs/**/*.md')", Arity = ArgumentArity.OneOrMore };
        var collection = RagCliOptions.Collection();
        var dataDir = RagCliOptions.DataDir();
        var chunkTokens = new Option<int>("--chunk-tokens") { Description = "Target chunk size in tokens", DefaultValueFactory = _ => new ChunkerOptions().ChunkTokens };
        var overlap = new Option<int>("--overlap") { Description = "Tokens shared by neighbouring chunks", DefaultValueFactory = _ => new ChunkerOptions().OverlapTokens };
        var sync = new Option<bool>("--sync") { Description = "Delete stored documents whose files are gone (within the given paths)" };
        var force = new Option<bool>("--force") { Description = "Re-process documents even when unchanged" };
        var textField = new Option<string>("--text-field") { Description = "Record field with the text (JSON/JSONL/CSV)", DefaultValueFactory = _ => ReaderOptions.Default.TextField };
        var idField = new Option<string>("--id-field") { Description = "Record field with the id", DefaultValueFactory = _ => ReaderOptions.Default.IdField };
        var titleField = new Option<string>("--title-field") { Description = "Record field with the title", DefaultValueFactory = _ => ReaderOptions.Default.TitleField };
        var embedRemote = RagCliOptions.EmbedRemote();
        var embedModel = RagCliOptions.EmbedModel();
        var cmd = new Command("ingest", "Add documents to a collection (only new or changed ones are processed)")
        {
            paths, collection, dataDir, chunkTokens, overlap, sync, force, textField, idField, titleField, embedRemote, embedModel,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var options = new IngestOptions
            {
                Readers = ReaderOptions.Default with { TextField = r.GetValue(textField)!, IdField = r.GetValue(idField)!, TitleField = r.GetValue(titleField)! },
                Chunking = new ChunkerOptions { ChunkTokens = r.GetValue(chunkTokens), OverlapTokens = r.GetValue(overlap) },
                Sync = r.GetValue(sync),
                Force = r.GetValue(force),
            };
            var summary = await RunWithProgress(progress => CollectionIngest.RunAsync(RagCliOptions.StoreOptions(r, r.GetValue(dataDir)), r.GetValue(collection)!,
                RagCliOptions.Embedder(r.GetValue(embedRemote), r.GetValue(embedModel)), options, r.GetValue(paths)!, progress, ct));
            PrintSummary(r.GetValue(collection)!, summary);
            return summary.Failed.Count > 0 && summary.Added + summary.Updated + summary.Unchanged == 0 ? 1 : 0;
        }));
        return cmd;
    }

    private static async Task<IngestSummary> RunWithProgress(Func<IProgress<IngestProgress>, Task<IngestSummary>> run)
    {
        if (!RagConsole.Interactive)
            return await run(new PlainProgress());
        IngestSummary? summary = null;
        await RagConsole.Out.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx => summary = await run(new BarProgress(ctx)));
        return summary!;
    }

    /// <summary>One bar per stage: "read 120/400 files, 85.3/s" with percentage and ETA.</summary>
    private sealed class BarProgress(ProgressContext ctx) : IProgress<IngestProgress>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = new(StringComparer.Ordinal);

        public void Report(IngestProgress p)
        {
            lock (_tasks)
            {
                if (!_tasks.TryGetValue(p.Stage, out var task)) _tasks[p.Stage] = task = ctx.AddTask(p.Stage, maxValue: Math.Max(1, p.Total));
                task.MaxValue = Math.Max(1, p.Total);
                task.Value = p.Total == 0 ? 1 : p.Done;
                task.Description = Markup.Escape(StageLine(p));
            }
        }
    }

    /// <summary>For logs and pipes: one line when a stage ends, and at most one a second while it runs.</summary>
    private sealed class PlainProgress : IProgress<IngestProgress>
    {
        private readonly Dictionary<string, TimeSpan> _last = new(StringComparer.Ordinal);

        public void Report(IngestProgress p)
        {
            lock (_last)
            {
                bool end = p.Done >= p.Total;
                if (!end && _last.TryGetValue(p.Stage, out var last) && p.Elapsed - last < TimeSpan.FromSeconds(1)) return;
                if (end && _last.TryGetValue(p.Stage, out var done) && done == TimeSpan.MaxValue) return;
                _last[p.Stage] = end ? TimeSpan.MaxValue : p.Elapsed;
                Console.Out.WriteLine(StageLine(p));
            }
        }
    }

    private static string StageLine(IngestProgress p)
    {
        string unit = p.Stage switch { "scan" or "read" => "files", "embed" => "chunks", _ => "documents" };
        double rate = p.Elapsed.TotalSeconds > 0 ? p.Done / p.Elapsed.TotalSeconds : 0;
        string eta = rate > 0 && p.Done < p.Total ? $", ETA {TimeSpan.FromSeconds((p.Total - p.Done) / rate):mm\\:ss}" : "";
        return $"{p.Stage,-6} {p.Done}/{p.Total} {unit}, {rate:F1}/s{eta}";
    }

    private static void PrintSummary(string collection, IngestSummary s)
    {
        var table = new Table().Title($"ingest into '{Markup.Escape(collection)}'").AddColumn("documents").AddColumn(new TableColumn("count").RightAligned());
        table.AddRow("added", s.Added.ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("updated", s.Updated.ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("unchanged", s.Unchanged.ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("deleted", s.Deleted.ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow(s.Failed.Count > 0 ? "[red]failed[/]" : "failed", s.Failed.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        RagConsole.Out.Write(table);
        Console.Out.WriteLine($"added {s.Added}, updated {s.Updated}, unchanged {s.Unchanged}, deleted {s.Deleted}, failed {s.Failed.Count}");
        Console.Out.WriteLine($"{s.Files} files, {s.ChunksWritten} chunks written, {s.ChunksEmbedded} embedded" +
            (s.Embedding != null ? $" ({s.Embedding.ModelId}, {s.Embedding.Dimensions} dims)" : " (BM25 only)") + $", {s.Elapsed.TotalSeconds:F1} s");
        if (s.Failed.Count == 0) return;
        if (!RagConsole.Interactive)
        {
            // Whole lines for logs and grep: a table would wrap long paths.
            foreach (var f in s.Failed) Console.Out.WriteLine($"failed (skipped): {f.Source}: {f.Reason}");
            return;
        }
        var failures = new Table().Title("failed (skipped)").AddColumn("source").AddColumn("reason");
        foreach (var f in s.Failed) failures.AddRow(Markup.Escape(f.Source), Markup.Escape(f.Reason));
        RagConsole.Out.Write(failures);
    }
}
