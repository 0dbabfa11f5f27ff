using System.CommandLine;
using System.Text.Json;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Pipelines;

namespace RagTune.Cli.Commands.Rag;

/// <summary><c>ragtune ask</c>: retrieve, answer with numbered citations, verify them.</summary>
internal static class AskCommand
{
    public static Command Create()
    {
        var question = new Argument<string>("question") { Description = "The question" };
        var collection = RagCliOptions.Collection();
        var dataDir = RagCliOptions.DataDir();
        var model = new Option<string?>("--model", "-m") { Description = "Local model run on RagTune's engine: GGUF, llama2.c .bin, Hugging Face folder, or catalog/cache name" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file when the model has none (llama2.c)" };
        var remote = new Option<string?>("--remote") { Description = "OpenAI-compatible server for the answer, e.g. http://127.0.0.1:8080/v1" };
        var remoteModel = new Option<string>("--remote-model") { Description = "Model name on --remote", DefaultValueFactory = _ => "default" };
        var k = new Option<int>("--k", "-k") { Description = "Chunks retrieved and given as sources", DefaultValueFactory = _ => 5 };
        var mode = RagCliOptions.Mode();
        var filter = new Option<string[]>("--filter") { Description = "Metadata equality key=value (repeatable)" };
        var extractive = new Option<bool>("--extractive") { Description = "Answer by quoting source sentences, without a model" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens the model may generate", DefaultValueFactory = _ => 256 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads for --model (0 = one per processor)" };
        var json = new Option<bool>("--json") { Description = "Print the verified answer as JSON (no streaming)" };
        var embedRemote = RagCliOptions.EmbedRemote();
        var embedModel = RagCliOptions.EmbedModel();
        var adapter = AdapterOption.Create();
        var rerank = RagCliOptions.Rerank();
        var rerankTop = RagCliOptions.RerankTop();
        var denseAgreement = RagCliOptions.DenseAgreement();
        var cmd = new Command("ask", "Answer a question from a collection, with cited and verified sources")
        {
            question, collection, dataDir, model, tokenizer, remote, remoteModel, k, mode, filter, extractive, maxTokens, threads, json, embedRemote, embedModel, adapter, rerank, rerankTop, denseAgreement,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            if (r.GetValue(k) < 1) throw new UsageException("--k must be at least 1.");
            var q = r.GetValue(question)!;
            using var rag = RagPipeline.Open(new RagPipelineOptions
            {
                ApiKey = RagCliOptions.ApiKey(),
                Collection = r.GetValue(collection), DataDir = r.GetValue(dataDir), Store = RagCliOptions.StoreOf(r), EmbedRemote = r.GetValue(embedRemote), EmbedModel = r.GetValue(embedModel),
                Rerank = r.GetValue(rerank), RerankTop = r.GetValue(rerankTop), DenseAgreementDepth = r.GetValue(denseAgreement),
                Model = r.GetValue(model), Tokenizer = r.GetValue(tokenizer), Adapter = r.GetValue(adapter), Remote = r.GetValue(remote), RemoteModel = r.GetValue(remoteModel)!,
                Threads = r.GetValue(threads),
                Clients = CliClients.Options(),
            }, withChat: !r.GetValue(extractive));
            var hits = await rag.SearchAsync(q, r.GetValue(mode), r.GetValue(k), RagCliOptions.Filter(r.GetValue(filter)), ct);
            if (rag.Chat == null && !r.GetValue(extractive))
                Console.Error.WriteLine("note: no model configured (--model <file> or --remote <url>); answering extractively by quoting the sources.");

            AskResult? answer = null;
            bool stream = !r.GetValue(json);
            await foreach (var update in rag.AnswerAsync(q, hits, r.GetValue(k), r.GetValue(maxTokens), ct))
            {
                if (stream && update.Delta.Length > 0) { Console.Out.Write(update.Delta); Console.Out.Flush(); }
                answer ??= update.Final;
            }
            if (answer == null) throw new InvalidOperationException("The answerer ended without a final answer.");
            if (!stream)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(answer, RagJson.Readable.AskResult));
                return 0;
            }
            Console.Out.WriteLine();
            PrintSources(answer);
            return 0;
        }));
        return cmd;
    }

    private static void PrintSources(AskResult answer)
    {
        Console.Out.WriteLine();
        if (answer.Abstained) Console.Out.WriteLine("(abstained: the sources do not support an answer)");
        if (answer.Sources.Count == 0) { Console.Out.WriteLine("no sources found"); return; }
        Console.Out.WriteLine("Sources:");
        foreach (var s in answer.Sources)
            Console.Out.WriteLine($"  [{s.Number}] {s.Source} [{s.Start}-{s.End}]{(s.Pages is { } pages ? " " + pages : "")} \"{s.Title}\"{(s.Cited ? "" : "  (not cited)")}");
        foreach (var s in answer.Sentences)
        {
            if (s.FabricatedCitations.Count > 0)
                Console.Out.WriteLine($"  ! cites missing source {string.Join(", ", s.FabricatedCitations.Select(n => $"[{n}]"))}: \"{s.Text}\"");
            else if (!s.Supported)
                Console.Out.WriteLine($"  ! unsupported (support {s.Support:F2}{(s.Citations.Count == 0 ? ", no citation" : "")}): \"{s.Text}\"");
        }
    }
}
