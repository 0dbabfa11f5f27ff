using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;

// llama.cpp's prefill and decode speed on a GGUF file, for the same prompt token ids RagTune's `bench generate`
// measured (one id per line in --prompt-ids), greedy, on the CPU. Prints the figures as JSON in the field names of
// RagTune's GenerateBenchResult, so the two can be put side by side.
//   dotnet LlamaCppReference.dll --model f.gguf --prompt-ids ids.txt --gen-tokens 128 --threads 2 [--batch 512]

var a = Args.Parse(args);
var ids = File.ReadAllLines(a.PromptIds).Where(l => l.Length > 0).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray();
if (ids.Length == 0) return Fail($"{a.PromptIds}: no token ids (one per line expected).");

NativeLibraryConfig.All.WithLogCallback((level, message) =>
{
    if (level is LLamaLogLevel.Error) Console.Error.Write($"llama.cpp: {message}");
});
// llama.cpp's defaults, except that the whole prompt is one batch (as RagTune prefills it) and the thread count
// is the one RagTune used.
var p = new ModelParams(a.Model)
{
    ContextSize = (uint)(ids.Length + a.GenTokens + 8), BatchSize = (uint)Math.Max(a.Batch, 1), UBatchSize = (uint)Math.Max(a.Batch, 1),
    Threads = a.Threads, BatchThreads = a.Threads, GpuLayerCount = 0,
};
using var weights = LLamaWeights.LoadFromFile(p);
int vocab = weights.NativeHandle.Vocab.Count;
if (ids.Any(t => t < 0 || t >= vocab)) return Fail($"{a.PromptIds}: a token id is outside the model's vocabulary of {vocab}.");

// Warm-up in a context of its own (page faults, thread pool, caches), as RagTune warms up before timing.
using (var warm = weights.CreateContext(p))
{
    var batch = new LLamaBatch();
    for (int i = 0; i < Math.Min(ids.Length, 64); i++) batch.Add(ids[i], i, LLamaSeqId.Zero, i == Math.Min(ids.Length, 64) - 1);
    Decode(warm, batch);
}

using var context = weights.CreateContext(p);
var prompt = new LLamaBatch();
var sw = Stopwatch.StartNew();
for (int start = 0; start < ids.Length; start += a.Batch)
{
    prompt.Clear();
    int end = Math.Min(ids.Length, start + a.Batch);
    for (int i = start; i < end; i++) prompt.Add(ids[i], i, LLamaSeqId.Zero, i == ids.Length - 1);
    Decode(context, prompt);
}
double prefill = sw.Elapsed.TotalSeconds;
int next = ArgMax(context.NativeHandle.GetLogitsIth(prompt.TokenCount - 1));
double ttft = sw.Elapsed.TotalSeconds;
sw.Restart();
var one = new LLamaBatch();
for (int i = 0; i < a.GenTokens - 1; i++)
{
    one.Clear();
    one.Add(next, ids.Length + i, LLamaSeqId.Zero, true);
    Decode(context, one);
    next = ArgMax(context.NativeHandle.GetLogitsIth(0));
}
double decode = sw.Elapsed.TotalSeconds;
long peak = Process.GetCurrentProcess().PeakWorkingSet64;
long fileSize = new FileInfo(a.Model).Length;
var result = new Dictionary<string, object>
{
    ["engine"] = "llama.cpp (LLamaSharp 0.30.0)",
    ["model"] = Path.GetFileName(a.Model),
    ["threads"] = a.Threads,
    ["prompt_tokens"] = ids.Length,
    ["gen_tokens"] = a.GenTokens,
    ["prefill_tokens_per_second"] = ids.Length / prefill,
    ["decode_tokens_per_second"] = (a.GenTokens - 1) / decode,
    ["time_to_first_token_ms"] = ttft * 1000,
    ["peak_rss_mib"] = peak / 1048576.0,
    ["file_size_mib"] = fileSize / 1048576.0,
    ["peak_rss_over_file_size"] = (double)peak / fileSize,
};
Console.Out.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
return 0;

static void Decode(LLamaContext context, LLamaBatch batch)
{
    var r = context.NativeHandle.Decode(batch);
    if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {r}");
}

static int ArgMax(Span<float> logits)
{
    int best = 0;
    for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
    return best;
}

static int Fail(string message)
{
    Console.Error.WriteLine("error: " + message);
    return 2;
}

/// <summary>The command line: every option is required except --batch (default 512) and --threads (default 2).</summary>
internal sealed record Args(string Model, string PromptIds, int GenTokens, int Threads, int Batch)
{
    public static Args Parse(string[] argv)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i + 1 < argv.Length; i += 2)
        {
            if (!argv[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"expected an option, got '{argv[i]}'");
            map[argv[i]] = argv[i + 1];
        }
        if (argv.Length % 2 == 1) throw new ArgumentException($"option '{argv[^1]}' has no value");
        string Need(string k) => map.TryGetValue(k, out var v) ? v : throw new ArgumentException($"{k} is required (--model, --prompt-ids, --gen-tokens)");
        int Int(string k, int? fallback)
        {
            var s = fallback == null ? Need(k) : map.GetValueOrDefault(k);
            if (s == null) return fallback!.Value;
            return int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{k} must be a positive integer (got '{s}')");
        }
        var model = Need("--model");
        if (!File.Exists(model)) throw new ArgumentException($"--model {model}: no such file");
        var ids = Need("--prompt-ids");
        if (!File.Exists(ids)) throw new ArgumentException($"--prompt-ids {ids}: no such file");
        return new Args(model, ids, Int("--gen-tokens", null), Int("--threads", 2), Int("--batch", 512));
    }
}
