using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using RagTune.Engine.Encoders;

namespace RagTune.Benchmarks;

/// <summary>
/// <c>ragtune bench embed</c>: encoder throughput (passages/s at a fixed batch and length) and single-query latency,
/// beside the PyTorch CPU reference (<c>dev/reference/encoders/bench_bert_torch.py</c>) run in the same session at the
/// same shape, so the figures compare as a ratio. Both sides encode random token ids (no tokenizer).
/// </summary>
internal static class EmbedBenchCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Embedding model folder (Hugging Face / sentence-transformers layout), BERT GGUF or BERT model.onnx", Required = true };
        var batch = new Option<int>("--batch") { Description = "Passages per forward pass", DefaultValueFactory = _ => 32 };
        var tokens = new Option<int>("--tokens") { Description = "Tokens per passage ([CLS] and [SEP] included)", DefaultValueFactory = _ => 128 };
        var queryTokens = new Option<int>("--query-tokens") { Description = "Tokens of the latency query", DefaultValueFactory = _ => 16 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (both sides)", DefaultValueFactory = _ => 2 };
        var runs = new Option<int>("--runs") { Description = "Timed batches after one warm-up (best counts)", DefaultValueFactory = _ => 3 };
        var noTorch = new Option<bool>("--no-torch") { Description = "Skip the PyTorch reference" };
        var torchProcesses = new Option<int>("--torch-processes") { Description = "PyTorch reference processes (the best counts)", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var cmd = new Command("embed", "Embedding throughput (passages/s) and query latency beside PyTorch on the CPU")
        {
            model, batch, tokens, queryTokens, threads, runs, noTorch, torchProcesses, json,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(() =>
        {
            int b = r.GetValue(batch), n = r.GetValue(tokens), qn = r.GetValue(queryTokens), t = r.GetValue(threads), runCount = r.GetValue(runs);
            int processes = r.GetValue(torchProcesses);
            if (b < 1 || n < 3 || qn < 3 || t < 1 || runCount < 1 || processes < 1)
                throw new UsageException("--batch, --threads, --runs and --torch-processes must be positive; --tokens and --query-tokens at least 3.");
            var path = RagTune.Models.Downloads.ModelResolver.Resolve(r.GetValue(model)!);
            using var encoder = File.Exists(path) ? BertEncoder.LoadGguf(path) : BertEncoder.Load(path);
            var c = encoder.Config;
            if (n > c.MaxPositions || qn > c.MaxPositions) throw new UsageException($"The model takes at most {c.MaxPositions} tokens.");
            using var session = new BertSession(encoder, t);
            var rng = new Random(0);
            int[] Sequence(int len) => [101 % c.VocabSize, .. Enumerable.Range(0, len - 2).Select(_ => rng.Next(Math.Min(104, c.VocabSize - 1), c.VocabSize)), 102 % c.VocabSize];
            var ids = Enumerable.Range(0, b).SelectMany(_ => Sequence(n)).ToArray();
            var lengths = Enumerable.Repeat(n, b).ToArray();
            var query = Sequence(qn);
            var hidden = new float[(long)b * n * c.Hidden];
            var pooled = new float[c.Hidden];

            session.Forward(hidden, ids.AsSpan(0, 2 * n), [], [n, n]);
            double best = double.MaxValue;
            for (int i = 0; i < runCount; i++)
            {
                ct.ThrowIfCancellationRequested();
                var sw = Stopwatch.StartNew();
                session.Forward(hidden, ids, [], lengths);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            var latencies = new List<double>();
            for (int i = 0; i < 22; i++)
            {
                var sw = Stopwatch.StartNew();
                session.Forward(hidden, query, [], [qn]);
                pooled.AsSpan().Clear();
                for (int k = 0; k < qn; k++) TensorPrimitives.Add(pooled, hidden.AsSpan(k * c.Hidden, c.Hidden), pooled);
                if (i >= 2) latencies.Add(sw.Elapsed.TotalMilliseconds);
            }
            latencies.Sort();
            var ours = new EmbedBenchSide("ragtune", b / best, b * n / best, latencies[latencies.Count / 2]);
            var torch = r.GetValue(noTorch) ? null : BestTorch(path, c, b, n, qn, t, runCount, processes);
            var result = new EmbedBenchResult(Path.GetFileName(path.TrimEnd(Path.DirectorySeparatorChar)), encoder.WeightType.ToString(), c.Hidden, c.Layers, b, n, qn, t,
                ours, torch, torch == null ? null : ours.PassagesPerSecond / torch.PassagesPerSecond, torch == null ? null : torch.QueryMs / ours.QueryMs);
            if (r.GetValue(json)) { Console.Out.WriteLine(JsonSerializer.Serialize(result, EmbedBenchJson.Readable.EmbedBenchResult)); return 0; }
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.Model} ({result.WeightType}, {c.Hidden}×{c.Layers}): batch {b}×{n} tokens, {t} threads"));
            foreach (var side in new[] { ours, torch }.OfType<EmbedBenchSide>())
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {side.Name,-8} {side.PassagesPerSecond,8:F1} passages/s {side.TokensPerSecond,9:F0} tokens/s   query ({qn} tokens) {side.QueryMs,7:F2} ms"));
            if (result.ThroughputRatio is { } tr)
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ratio: {tr:F2}x torch throughput, {result.LatencyRatio:F2}x torch query speed"));
            else if (!r.GetValue(noTorch))
                Console.Out.WriteLine("  torch: not run (needs /usr/bin/python3 with torch and dev/reference/encoders in the checkout)");
            return 0;
        }));
        return cmd;
    }

    // Why several processes: PyTorch 1.13 with Debian's OpenMP OpenBLAS settles, per process, in a fast mode or one
    // about 3x slower (six processes in a row on a quiet machine: 60.6, 15.9, 56.5, 16.5, 61.6, 16.3 passages/s), so
    // one process can flatter the engine threefold. The best throughput and the best query latency over the processes
    // are the reference.
    private static EmbedBenchSide? BestTorch(string modelPath, BertConfig c, int batch, int tokens, int queryTokens, int threads, int runs, int processes)
    {
        EmbedBenchSide? best = null;
        for (int i = 0; i < processes; i++)
        {
            if (RunTorch(modelPath, c, batch, tokens, queryTokens, threads, runs) is not { } side) return best;
            best = best == null ? side : best with
            {
                PassagesPerSecond = Math.Max(best.PassagesPerSecond, side.PassagesPerSecond),
                TokensPerSecond = Math.Max(best.TokensPerSecond, side.TokensPerSecond),
                QueryMs = Math.Min(best.QueryMs, side.QueryMs),
            };
        }
        return best;
    }

    // The reference needs the repository's dev/reference/encoders scripts and a python3 with torch; absent either, no row.
    private static EmbedBenchSide? RunTorch(string modelPath, BertConfig c, int batch, int tokens, int queryTokens, int threads, int runs)
    {
        var script = FindScript();
        if (script == null || !File.Exists("/usr/bin/python3")) return null;
        var configPath = Path.Combine(Path.GetTempPath(), $"ragtune-bench-{Environment.ProcessId}.json");
        File.WriteAllText(configPath, c.ToJson());
        try
        {
            var psi = TorchProcess.StartInfo("/usr/bin/python3");
            psi.WorkingDirectory = Path.GetDirectoryName(script)!;
            foreach (var a in new[] { script, "--config", configPath, "--inputs", $"{batch}", "--tokens", $"{tokens}", "--query-tokens", $"{queryTokens}", "--threads", $"{threads}", "--runs", $"{runs}", "--json" })
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) return null;
            using var doc = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
            var root = doc.RootElement;
            return new EmbedBenchSide("torch " + root.GetProperty("torch").GetString(), root.GetProperty("passages_per_second").GetDouble(),
                root.GetProperty("tokens_per_second").GetDouble(), root.GetProperty("query_ms").GetDouble());
        }
        finally
        {
            File.Delete(configPath);
        }
    }

    private static string? FindScript()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "dev", "reference", "encoders", "bench_bert_torch.py");
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}

/// <summary>One side of the comparison.</summary>
internal sealed record EmbedBenchSide(string Name, double PassagesPerSecond, double TokensPerSecond, double QueryMs);

/// <summary>Figures of one <c>bench embed</c> run; ratios are ours over torch's (above 1: faster).</summary>
internal sealed record EmbedBenchResult(string Model, string WeightType, int Hidden, int Layers, int Batch, int Tokens, int QueryTokens, int Threads,
    EmbedBenchSide Ragtune, EmbedBenchSide? Torch, double? ThroughputRatio, double? LatencyRatio);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(EmbedBenchResult))]
internal sealed partial class EmbedBenchJson : System.Text.Json.Serialization.JsonSerializerContext
{
    private static EmbedBenchJson? s_readable;

    /// <summary>The same contract with printable characters unescaped (<see cref="ReadableJson"/>); made on first use, after <c>Default</c>.</summary>
    public static EmbedBenchJson Readable => s_readable ??= new(ReadableJson.Options(Default.Options));
}
