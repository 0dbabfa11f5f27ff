using System.CommandLine;
using Microsoft.Extensions.AI;
using RagTune.Cli.Commands.Rag;
using RagTune.Evaluation.Experiments;
using RagTune.Hosting.Models;

namespace RagTune.Cli.Commands.Compare;

/// <summary><c>ragtune qa generate</c>: question/answer pairs with their source chunk, from a collection, by a chat model.</summary>
internal static class QaCommand
{
    public static Command Create()
    {
        var collection = RagCliOptions.Collection();
        var dataDir = RagCliOptions.DataDir();
        var model = new Option<string?>("--model", "-m") { Description = "Local model (file or downloaded name) that writes the questions" };
        var remote = new Option<string?>("--remote") { Description = "OpenAI-compatible server that writes the questions, e.g. http://127.0.0.1:8080/v1" };
        var remoteModel = new Option<string>("--remote-model") { Description = "Model name on --remote", DefaultValueFactory = _ => "default" };
        var paraphrases = new Option<int>("--paraphrases") { Description = "Rewordings per kept question", DefaultValueFactory = _ => 0 };
        var maxChunks = new Option<int?>("--max-chunks") { Description = "Use at most this many chunks (in collection order)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per model reply", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads for --model (0 = one per processor)" };
        var output = new Option<string>("--out", "-o") { Description = "Questions JSONL to write (the format compare reads)", Required = true };
        var generate = new Command("generate", "Write question/answer pairs from a collection's chunks; drops pairs whose answer is not in the chunk or whose question gives it away")
        {
            collection, dataDir, model, remote, remoteModel, paraphrases, maxChunks, maxTokens, threads, output,
        };
        generate.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            if ((r.GetValue(model) == null) == (r.GetValue(remote) == null)) throw new UsageException("Pass exactly one of --model <file> and --remote <url>.");
            if (r.GetValue(paraphrases) < 0) throw new UsageException("--paraphrases must be zero or more.");
            if (r.GetValue(maxChunks) is < 1) throw new UsageException("--max-chunks must be at least 1.");
            using var store = RagCliOptions.OpenExisting(r, r.GetValue(collection)!, r.GetValue(dataDir));
            var chunks = await store.GetAllChunksAsync(ct);
            if (chunks.Count == 0) throw new UsageException($"Collection '{store.Name}' holds no chunks; ingest documents first (ragtune ingest <paths> --collection {store.Name}).");
            using var chat = ChatModels.Create(new ChatModelSettings
            {
                Model = r.GetValue(model), Threads = r.GetValue(threads), Remote = r.GetValue(remote), RemoteModel = r.GetValue(remoteModel), ApiKey = RagCliOptions.ApiKey(),
            });
            var generator = new QaGenerator(chat, new QaGeneratorOptions { Paraphrases = r.GetValue(paraphrases), MaxChunks = r.GetValue(maxChunks), MaxTokens = r.GetValue(maxTokens) });
            var result = await CompareProgress.RunAsync(false, progress => generator.GenerateAsync(chunks, progress, ct));
            var path = Path.GetFullPath(r.GetValue(output)!);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            QaGenerator.Write(path, result.Pairs);
            int originals = result.Pairs.Count(p => p.ParaphraseOf == null);
            Console.Out.WriteLine($"kept {originals} questions and {result.Pairs.Count - originals} paraphrases from {result.ChunksSeen} chunks");
            foreach (var (reason, count) in result.Dropped) Console.Out.WriteLine($"dropped {count}: {reason}");
            Console.Out.WriteLine($"wrote {path}");
            return 0;
        }));
        return new Command("qa", "Question/answer sets for experiments") { generate };
    }
}
