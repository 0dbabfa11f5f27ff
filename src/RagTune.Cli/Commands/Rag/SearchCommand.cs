using System.CommandLine;
using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.Json;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Pipelines;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Cli.Commands.Rag;

/// <summary><c>ragtune search</c>: ranked chunks for a query.</summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var query = new Argument<string>("query") { Description = "What to search for" };
        var collection = RagCliOptions.Collection();
        var dataDir = RagCliOptions.DataDir();
        var mode = RagCliOptions.Mode();
        var k = new Option<int>("--k", "-k") { Description = "Number of results", DefaultValueFactory = _ => 10 };
        var filter = new Option<string[]>("--filter") { Description = "Metadata equality key=value (repeatable, all must hold)" };
        var json = new Option<bool>("--json") { Description = "Print the hits as JSON" };
        var embedRemote = RagCliOptions.EmbedRemote();
        var embedModel = RagCliOptions.EmbedModel();
        var rerank = RagCliOptions.Rerank();
        var rerankTop = RagCliOptions.RerankTop();
        var denseAgreement = RagCliOptions.DenseAgreement();
        var cmd = new Command("search", "Search a collection") { query, collection, dataDir, mode, k, filter, json, embedRemote, embedModel, rerank, rerankTop, denseAgreement };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            if (r.GetValue(k) < 1) throw new UsageException("--k must be at least 1.");
            using var rag = RagPipeline.Open(new RagPipelineOptions
            {
                ApiKey = RagCliOptions.ApiKey(),
                Collection = r.GetValue(collection), DataDir = r.GetValue(dataDir), Store = RagCliOptions.StoreOf(r), EmbedRemote = r.GetValue(embedRemote), EmbedModel = r.GetValue(embedModel),
                Rerank = r.GetValue(rerank), RerankTop = r.GetValue(rerankTop), DenseAgreementDepth = r.GetValue(denseAgreement),
            }, withChat: false);
            var hits = await rag.SearchAsync(r.GetValue(query)!, r.GetValue(mode), r.GetValue(k), RagCliOptions.Filter(r.GetValue(filter)), ct);
            if (r.GetValue(json))
                Console.Out.WriteLine(JsonSerializer.Serialize(rag.Results(hits), RagJson.Readable.IReadOnlyListSearchResult));
            else if (hits.Count == 0)
                Console.Out.WriteLine("no results");
            else
                foreach (var h in hits) Print(h);
            return 0;
        }));
        return cmd;
    }

    private static void Print(SearchHit h)
    {
        var c = h.Chunk;
        var headings = c.Chunk.HeadingPath.Count > 0 ? "  § " + string.Join(" > ", c.Chunk.HeadingPath) : "";
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{h.Rank,2}. {h.Score,8:F4}  {c.Source} [{c.Chunk.Start}-{c.Chunk.End}]{(c.Pages is { } pages ? " " + pages : "")}  \"{c.Title}\"{headings}"));
        var text = c.Chunk.Text.ReplaceLineEndings(" ");
        Console.Out.WriteLine("    " + (text.Length > 240 ? text[..240] + "…" : text));
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(IReadOnlyList<SearchResult>))]
[JsonSerializable(typeof(AskResult))]
[JsonSerializable(typeof(RetrievalEvalJson))]
[JsonSerializable(typeof(SquadEvalJson))]
[JsonSerializable(typeof(List<CollectionInfo>))]
internal sealed partial class RagJson : JsonSerializerContext
{
    private static RagJson? s_readable;

    /// <summary>The same contract with printable characters unescaped (<see cref="ReadableJson"/>); made on first use, after <c>Default</c>.</summary>
    public static RagJson Readable => s_readable ??= new(ReadableJson.Options(Default.Options));
}
