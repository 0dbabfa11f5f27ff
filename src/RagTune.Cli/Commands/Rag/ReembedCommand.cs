using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using RagTune.Rag.Ingestion;

namespace RagTune.Cli.Commands.Rag;

/// <summary>
/// <c>ragtune collections reembed</c>: re-embeds every chunk of a collection with another model. The old model keeps
/// serving until every new vector is written; an interrupted run is resumed by running the command again.
/// </summary>
internal static class ReembedCommand
{
    public static Command Create()
    {
        var collection = RagCliOptions.Collection();
        var dataDir = RagCliOptions.DataDir();
        var embedModel = RagCliOptions.EmbedModel();
        embedModel.Required = true;
        var embedRemote = RagCliOptions.EmbedRemote();
        var batch = new Option<int>("--batch-size") { Description = "Chunks embedded and written per transaction", DefaultValueFactory = _ => 64 };
        var cmd = new Command("reembed", "Re-embed a collection with another embedding model (atomic switch; a rerun resumes)")
        {
            collection, dataDir, embedModel, embedRemote, batch,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            if (r.GetValue(batch) < 1) throw new UsageException("--batch-size must be at least 1.");
            using var store = RagCliOptions.OpenExisting(r, r.GetValue(collection)!, r.GetValue(dataDir));
            var before = store.Embedding;
            using var embedder = RagTune.Hosting.Pipelines.RagParts.WithVectorCache(RagCliOptions.Embedder(r.GetValue(embedRemote), r.GetValue(embedModel)), r.GetValue(dataDir))!;
            var sw = Stopwatch.StartNew();
            var last = TimeSpan.Zero;
            var progress = new Progress<(int Done, int Total)>(p =>
            {
                if (sw.Elapsed - last < TimeSpan.FromSeconds(2) && p.Done < p.Total) return;
                last = sw.Elapsed;
                Console.Error.WriteLine($"re-embedded {p.Done}/{p.Total} chunks");
            });
            var summary = await Reembedder.RunAsync(store, embedder, r.GetValue(batch), progress, ct);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"collection '{store.Name}': {before?.ModelId ?? "(no vectors)"} → {summary.Model.ModelId} ({summary.Model.Dimensions} dimensions); {summary.Embedded} chunks embedded{(summary.Resumed > 0 ? $", {summary.Resumed} resumed from an interrupted run" : "")} in {sw.Elapsed.TotalSeconds:F1} s"));
            return 0;
        }));
        return cmd;
    }
}
