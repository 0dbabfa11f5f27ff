using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using RagTune.Engine.Models;
using RagTune.Engine.Sampling;

namespace RagTune.Benchmarks;

/// <summary><c>ragtune bench …</c>: speed and memory figures (benchmarks live here, never in timed tests).</summary>
public static class BenchCommands
{
    /// <summary>
    /// The <c>bench</c> command and its subcommands, for the CLI to add to its root. <paramref name="store"/> reads the
    /// front end's <c>--store</c> (the PostgreSQL connection string <c>bench rag</c> measures; null: SQLite files), so the
    /// option and its checks stay the CLI's.
    /// </summary>
    public static Command Create(Func<ParseResult, string?> store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var cmd = new Command("bench", "Measure speed and memory");
        cmd.Subcommands.Add(Generate());
        cmd.Subcommands.Add(RagBenchCommand.Create(store));
        cmd.Subcommands.Add(ServeBenchCommand.Create());
        cmd.Subcommands.Add(SoakBenchCommand.Create());
        cmd.Subcommands.Add(TrainBenchCommand.Create());
        cmd.Subcommands.Add(EmbedBenchCommand.Create());
        return cmd;
    }

    private static Command Generate()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model file", Required = true };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length to prefill", DefaultValueFactory = _ => 512 };
        var genTokens = new Option<int>("--gen-tokens") { Description = "Tokens to decode", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch") { Description = "Prefill batch size", DefaultValueFactory = _ => 64 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var reference = new Option<string>("--reference")
        {
            Description = "Also measure another engine on the same file and prompt token ids: 'llamacpp' (llama.cpp through LLamaSharp; build bench/LlamaCppReference first)",
        };
        reference.AcceptOnlyFromAmong("llamacpp");
        var cmd = new Command("generate", "Prefill and decode speed, time to first token and peak RSS") { model, promptTokens, genTokens, threads, batch, json, reference };
        cmd.SetAction((r, ct) => CliRun.Guard(() =>
        {
            var path = r.GetValue(model)!;
            var result = Run(path, r.GetValue(promptTokens), r.GetValue(genTokens), r.GetValue(threads), r.GetValue(batch), ct);
            GenerateBenchResult? llamaCpp = r.GetValue(reference) == null ? null
                : LlamaCppReference.Run(path, result.PromptIds, r.GetValue(genTokens), result.Threads, ct);
            if (r.GetValue(json))
                Console.Out.WriteLine(llamaCpp == null
                    ? JsonSerializer.Serialize(result, BenchJson.Readable.GenerateBenchResult)
                    : JsonSerializer.Serialize(new GenerateComparison(result, llamaCpp, result.PrefillTokensPerSecond / llamaCpp.PrefillTokensPerSecond,
                        result.DecodeTokensPerSecond / llamaCpp.DecodeTokensPerSecond), BenchJson.Readable.GenerateComparison));
            else
            {
                Console.Out.WriteLine(Line("ragtune", result));
                if (llamaCpp != null)
                {
                    Console.Out.WriteLine(Line("llama.cpp", llamaCpp));
                    Console.Out.WriteLine($"ratio ragtune / llama.cpp: prefill {result.PrefillTokensPerSecond / llamaCpp.PrefillTokensPerSecond:F2}x, decode {result.DecodeTokensPerSecond / llamaCpp.DecodeTokensPerSecond:F2}x");
                }
            }
            return 0;
        }));
        return cmd;
    }

    private static string Line(string engine, GenerateBenchResult result) =>
        $"{engine} {result.Model}: prefill {result.PromptTokens} tokens at {result.PrefillTokensPerSecond:F1} tokens/s, decode {result.GenTokens} tokens at {result.DecodeTokensPerSecond:F1} tokens/s, " +
        $"time to first token {result.TimeToFirstTokenMs:F0} ms, peak RSS {result.PeakRssMib:F0} MiB ({result.PeakRssOverFileSize:F2}x the file), {result.Threads} threads";

    internal static GenerateBenchResult Run(string path, int promptTokens, int genTokens, int threads, int batch, CancellationToken ct)
    {
        if (promptTokens < 1 || genTokens < 1) throw new UsageException("--prompt-tokens and --gen-tokens must be positive.");
        using var model = TransformerModel.Load(path);
        var c = model.Config;
        int ctx = promptTokens + genTokens;
        if (ctx > c.ContextLength) throw new UsageException($"{promptTokens}+{genTokens} tokens exceed the model's context of {c.ContextLength}.");
        using var session = new InferenceSession(model, new SessionOptions(ctx, batch, threads));

        // Token ids are drawn from a fixed seed so every run measures the same work.
        var prompt = PromptIds(promptTokens, c.VocabSize);
        var sampler = new Sampler(c.VocabSize, SamplerOptions.Greedy);

        // Warm-up so the JIT has compiled the hot loops at full optimisation before timing.
        session.Forward(prompt.AsSpan(0, Math.Min(prompt.Length, 2 * batch)));
        var one = new int[1];
        for (int i = 0; i < 8 && session.Position < ctx; i++) { one[0] = sampler.Sample(session.Logits); session.Forward(one); }
        session.Reset();

        var sw = Stopwatch.StartNew();
        session.Forward(prompt);
        double prefill = sw.Elapsed.TotalSeconds;
        one[0] = sampler.Sample(session.Logits);
        double ttft = sw.Elapsed.TotalSeconds;
        sw.Restart();
        for (int i = 0; i < genTokens - 1; i++)
        {
            ct.ThrowIfCancellationRequested();
            session.Forward(one);
            one[0] = sampler.Sample(session.Logits);
        }
        double decode = sw.Elapsed.TotalSeconds;
        long fileSize = new FileInfo(path).Length;
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        return new GenerateBenchResult(
            Model: Path.GetFileName(path), Threads: session.Options.Threads, PromptTokens: promptTokens, GenTokens: genTokens,
            PrefillTokensPerSecond: promptTokens / prefill, DecodeTokensPerSecond: (genTokens - 1) / decode,
            TimeToFirstTokenMs: ttft * 1000, PeakRssMib: peak / 1048576.0, FileSizeMib: fileSize / 1048576.0,
            PeakRssOverFileSize: (double)peak / fileSize) { PromptIds = prompt };
    }

    /// <summary>The prompt every run prefills: <paramref name="count"/> ids from seed 1234, none of the first three (special) ids.</summary>
    internal static int[] PromptIds(int count, int vocabSize)
    {
        var rng = new Random(1234);
        var prompt = new int[count];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(Math.Min(3, vocabSize - 1), vocabSize);
        return prompt;
    }
}

/// <summary>Figures of one <c>bench generate</c> run.</summary>
internal sealed record GenerateBenchResult(
    string Model, int Threads, int PromptTokens, int GenTokens, double PrefillTokensPerSecond, double DecodeTokensPerSecond,
    double TimeToFirstTokenMs, double PeakRssMib, double FileSizeMib, double PeakRssOverFileSize)
{
    /// <summary>The prompt's token ids (handed to a reference engine; not printed).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int[] PromptIds { get; init; } = [];
}

/// <summary><c>bench generate --reference</c>: both engines' figures and RagTune's speed over the reference's.</summary>
internal sealed record GenerateComparison(GenerateBenchResult Ragtune, GenerateBenchResult Reference, double PrefillRatio, double DecodeRatio);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(GenerateBenchResult))]
[System.Text.Json.Serialization.JsonSerializable(typeof(GenerateComparison))]
internal sealed partial class BenchJson : System.Text.Json.Serialization.JsonSerializerContext
{
    private static BenchJson? s_readable;

    /// <summary>The same contract with printable characters unescaped (<see cref="ReadableJson"/>); made on first use, after <c>Default</c>.</summary>
    public static BenchJson Readable => s_readable ??= new(ReadableJson.Options(Default.Options));
}
