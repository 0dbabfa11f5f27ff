using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RagTune.Models.Embeddings;

namespace RagTune.Cli.Commands;

/// <summary><c>ragtune embed</c>: sentence embeddings from a local BERT model folder (all-MiniLM, BGE, E5, GTE).</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model folder (config.json, model.safetensors, vocab.txt or tokenizer.json; sentence-transformers layout), a BERT GGUF, or a BERT model.onnx / folder with onnx/model.onnx", Required = true };
        var text = new Option<string[]>("--text") { Description = "Text to embed (repeatable)", AllowMultipleArgumentsPerToken = false };
        var file = new Option<string?>("--file", "-f") { Description = "JSON lines file: one object per line with \"text\" (and optional \"id\"), or one JSON string per line" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per input: {\"index\", \"id\"?, \"embedding\"}" };
        var query = new Option<bool>("--query") { Description = "Embed the inputs as search queries (adds the family's query prefix)" };
        var family = new Option<EmbeddingFamily>("--family") { Description = "Prefix convention: None, E5 (\"query: \"/\"passage: \"), Bge (query instruction)", DefaultValueFactory = _ => EmbeddingFamily.None };
        var pooling = new Option<EmbeddingPooling?>("--pooling") { Description = "Override the folder's pooling: Mean or Cls" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Cut inputs to this many tokens (default: the model's max_seq_length)" };
        var batch = new Option<int>("--batch-size") { Description = "Inputs per forward pass", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };

        var cmd = new Command("embed", "Embed text with a local BERT encoder")
        {
            model, text, file, json, query, family, pooling, maxTokens, batch, threads,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            var inputs = new List<(string? Id, string Text)>();
            foreach (var t in r.GetValue(text) ?? []) inputs.Add((null, t));
            if (r.GetValue(file) is { } path) inputs.AddRange(ReadJsonLines(path));
            if (inputs.Count == 0) throw new UsageException("Pass --text \"…\" (repeatable) or --file in.jsonl.");

            var options = LocalEmbeddingOptions.ForFamily(r.GetValue(family)) with
            {
                Pooling = r.GetValue(pooling),
                MaxTokens = r.GetValue(maxTokens),
                BatchSize = r.GetValue(batch),
                Threads = r.GetValue(threads),
                Warning = m => Console.Error.WriteLine($"warning: {m}"),
            };
            var sw = Stopwatch.StartNew();
            using var generator = LocalEmbeddingGenerator.Load(r.GetValue(model)!, options);
            var loadMs = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            var target = r.GetValue(query) ? generator.ForQueries() : generator;
            var result = await target.GenerateAsync(inputs.Select(i => i.Text), cancellationToken: ct);
            var seconds = sw.Elapsed.TotalSeconds;

            var stdout = Console.Out;
            for (int i = 0; i < result.Count; i++)
            {
                var v = result[i].Vector.Span;
                if (r.GetValue(json))
                {
                    stdout.WriteLine(ToJson(i, inputs[i].Id, v));
                }
                else
                {
                    var head = string.Join(", ", v[..Math.Min(6, v.Length)].ToArray().Select(x => x.ToString("F5", CultureInfo.InvariantCulture)));
                    stdout.WriteLine($"[{i}] {inputs[i].Id ?? Preview(inputs[i].Text)}: [{head}, …] ({v.Length} dims)");
                }
            }
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{generator.ModelId}: {result.Count} inputs, {result.Usage?.InputTokenCount} tokens in {seconds * 1000:F0} ms ({result.Count / Math.Max(seconds, 1e-9):F1} inputs/s), load {loadMs:F0} ms, pooling {generator.Pooling}, normalize {generator.Normalize}"));
            return 0;
        }));
        cmd.Subcommands.Add(CreateRandom());
        cmd.Subcommands.Add(Bench());
        return cmd;
    }

    // ragtune embed create-random: a sentence-transformers folder with deterministic random weights at a real shape.
    private static Command CreateRandom()
    {
        var preset = new Option<string>("--preset") { Description = "Shape: minilm (all-MiniLM-L6-v2), bge-small (bge-small-en-v1.5) or tiny (64 wide, 2 layers: for training demos on 2 cores)", DefaultValueFactory = _ => "minilm" };
        var output = new Option<string>("--out", "-o") { Description = "Folder to write", Required = true };
        var f16 = new Option<bool>("--f16") { Description = "Store weights as F16 (default F32)" };
        var seed = new Option<ulong>("--seed") { Description = "Weight seed (0..65535)", DefaultValueFactory = _ => 1 };
        var vocab = new Option<string?>("--vocab") { Description = "BERT vocab.txt to copy (30522 tokens); default: a synthetic vocabulary" };
        var crossEncoder = new Option<bool>("--cross-encoder") { Description = "Write a cross-encoder (BertForSequenceClassification with a one-label head, the ms-marco MiniLM layout) for --rerank" };
        var cmd = new Command("create-random", "Write an embedding model folder with random weights, for tests and benchmarks") { preset, output, f16, seed, vocab, crossEncoder };
        cmd.SetAction((r, ct) => CliRun.Guard(() =>
        {
            var config = r.GetValue(preset) switch
            {
                "minilm" => Engine.Encoders.BertConfig.MiniLmL6,
                "bge-small" => Engine.Encoders.BertConfig.BgeSmall,
                "tiny" => Engine.Encoders.BertConfig.Tiny,
                var p => throw new UsageException($"--preset '{p}' is unknown; use minilm, bge-small or tiny."),
            };
            var pooling = r.GetValue(preset) == "bge-small" ? EmbeddingPooling.Cls : EmbeddingPooling.Mean;
            bool cross = r.GetValue(crossEncoder);
            if (cross) config = config with { NumLabels = 1 };
            RandomEmbeddingModelWriter.Write(r.GetValue(output)!, config, r.GetValue(seed), r.GetValue(f16), pooling, vocabFile: r.GetValue(vocab));
            Console.Error.WriteLine($"wrote {r.GetValue(output)} ({r.GetValue(preset)}, {(r.GetValue(f16) ? "F16" : "F32")}, {(cross ? "cross-encoder with a one-label classification head" : $"{pooling} pooling")})");
            return 0;
        }));
        return cmd;
    }

    // ragtune embed bench: throughput of the local encoder on synthetic inputs of a fixed token length.
    private static Command Bench()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model folder", Required = true };
        var inputs = new Option<int>("--inputs") { Description = "Inputs per run", DefaultValueFactory = _ => 64 };
        var words = new Option<int>("--words") { Description = "Words per input (about one token each for common words)", DefaultValueFactory = _ => 100 };
        var batch = new Option<int>("--batch-size") { Description = "Inputs per forward pass", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads", DefaultValueFactory = _ => 2 };
        var runs = new Option<int>("--runs") { Description = "Timed runs after one warm-up", DefaultValueFactory = _ => 3 };
        var cmd = new Command("bench", "Embedding throughput (inputs/s, tokens/s)") { model, inputs, words, batch, threads, runs };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            using var generator = LocalEmbeddingGenerator.Load(r.GetValue(model)!, new LocalEmbeddingOptions { BatchSize = r.GetValue(batch), Threads = r.GetValue(threads), Warning = _ => { } });
            string[] vocabulary = ["the", "model", "answer", "question", "search", "document", "retrieval", "data", "time", "system", "w200", "w300"];
            var texts = Enumerable.Range(0, r.GetValue(inputs))
                .Select(i => string.Join(' ', Enumerable.Range(0, r.GetValue(words)).Select(j => vocabulary[(i * 7 + j * 3) % vocabulary.Length]))).ToArray();
            await generator.GenerateAsync(texts.Take(Math.Min(4, texts.Length)), cancellationToken: ct);
            var best = double.MaxValue;
            long tokens = 0;
            for (int run = 0; run < r.GetValue(runs); run++)
            {
                var sw = Stopwatch.StartNew();
                var result = await generator.GenerateAsync(texts, cancellationToken: ct);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
                tokens = result.Usage?.InputTokenCount ?? 0;
            }
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{generator.ModelId}: {texts.Length} inputs ({tokens} tokens) in {best * 1000:F0} ms best of {r.GetValue(runs)}: {texts.Length / best:F1} inputs/s, {tokens / best:F0} tokens/s, {r.GetValue(threads)} threads, batch {r.GetValue(batch)}"));
            return 0;
        }));
        return cmd;
    }

    private static IEnumerable<(string? Id, string Text)> ReadJsonLines(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Input file '{path}' does not exist.", path);
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw new UsageException($"{path}:{lineNo}: not valid JSON ({e.Message}); each line must be {{\"text\": \"…\"}} or a JSON string.");
            }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind == JsonValueKind.String)
                {
                    yield return (null, root.GetString()!);
                    continue;
                }
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new UsageException($"{path}:{lineNo}: expected an object with a string \"text\" field, or a JSON string.");
                string? id = root.TryGetProperty("id", out var idv) ? idv.ValueKind == JsonValueKind.String ? idv.GetString() : idv.GetRawText() : null;
                yield return (id, t.GetString()!);
            }
        }
    }

    private static string ToJson(int index, string? id, ReadOnlySpan<float> v)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("index", index);
            if (id != null) w.WriteString("id", id);
            w.WriteStartArray("embedding");
            foreach (var x in v) w.WriteNumberValue(x);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string Preview(string text) => text.Length <= 40 ? $"\"{text}\"" : $"\"{text[..37]}…\"";
}
