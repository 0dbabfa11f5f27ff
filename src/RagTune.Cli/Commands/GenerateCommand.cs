using System.CommandLine;
using RagTune.Engine.Models;
using RagTune.Engine.Sampling;
using RagTune.Models.Local;

namespace RagTune.Cli.Commands;

/// <summary><c>ragtune generate</c>: stream a completion from a local model.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model file (GGUF or llama2.c .bin) or downloaded model name" };
        var remote = new Option<string?>("--remote") { Description = "Generate on an OpenAI-compatible server: base URL (http://host:port/v1) or endpoint name from ~/.ragtune/config.json" };
        var remoteModel = new Option<string?>("--remote-model") { Description = "Model name on the remote server (default: the endpoint's, else the first it lists)" };
        var apiKeyEnv = new Option<string?>("--api-key-env") { Description = "Environment variable holding the remote server's API key" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file when the model has none (llama2.c tokenizer.bin, or a GGUF)" };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text; empty starts from BOS" };
        var tokens = new Option<string?>("--tokens") { Description = "Prompt as token ids, e.g. 1,450,2 (no BOS is added)" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens to generate", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "0 = off", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "1 = off", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "0 = off", DefaultValueFactory = _ => 0.05f };
        var repeat = new Option<float>("--repeat-penalty") { Description = "1 = off", DefaultValueFactory = _ => 1.0f };
        var seed = new Option<ulong?>("--seed") { Description = "Sampling seed (random when omitted)" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var context = new Option<int>("--context") { Description = "Context size in tokens (0 = model's, capped at 16384)" };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable)", AllowMultipleArgumentsPerToken = false };

        var adapter = AdapterOption.Create();
        var cmd = new Command("generate", "Generate text from a local model, streamed as it is produced")
        {
            model, tokenizer, prompt, tokens, maxTokens, temperature, topK, topP, minP, repeat, seed, threads, context, stop, remote, remoteModel, apiKeyEnv, adapter,
        };
        cmd.SetAction((r, ct) => CliRun.Guard(() =>
        {
            if (r.GetValue(prompt) != null && r.GetValue(tokens) != null)
                throw new UsageException("Pass either --prompt or --tokens, not both.");
            if (r.GetValue(remote) is { } url)
            {
                if (r.GetValue(model) != null || r.GetValue(tokens) != null) throw new UsageException("--remote cannot be combined with --model or --tokens.");
                return Models.RemoteGenerate.RunAsync(url, r.GetValue(remoteModel), r.GetValue(apiKeyEnv), r.GetValue(prompt) ?? "", new Microsoft.Extensions.AI.ChatOptions
                {
                    Temperature = r.GetValue(temperature), TopP = r.GetValue(topP), MaxOutputTokens = r.GetValue(maxTokens),
                    Seed = r.GetValue(seed) is { } s ? unchecked((long)s) : null, StopSequences = r.GetValue(stop) is { Length: > 0 } st ? st : null,
                }, ct).GetAwaiter().GetResult();
            }
            if (r.GetValue(model) is not { } modelName) throw new UsageException("Pass --model <file or name>, or --remote <url or endpoint>.");
            var sampler = new SamplerOptions(r.GetValue(temperature), r.GetValue(topK), r.GetValue(topP), r.GetValue(minP),
                r.GetValue(repeat), Seed: r.GetValue(seed) ?? (ulong)Random.Shared.NextInt64());
            var settings = new GenerationSettings(sampler, r.GetValue(maxTokens), r.GetValue(stop));
            settings.Validate();

            using var local = AdapterOption.Apply(LocalModel.Load(RagTune.Models.Downloads.ModelResolver.Resolve(modelName), r.GetValue(tokenizer)), r.GetValue(adapter));
            using var session = new InferenceSession(local.Engine, new SessionOptions(r.GetValue(context), Threads: r.GetValue(threads))) { Adapter = local.Adapter };
            IReadOnlyList<int> ids = r.GetValue(tokens) is { } t ? TokenIdsOption.Parse(t, "--tokens")
                : local.Tokenizer.Encode(r.GetValue(prompt) ?? "", addBos: true);
            if (ids.Count == 0) ids = [local.Tokenizer.BosId];

            var generator = new TextGenerator(local, session);
            var stdout = Console.Out;
            var stats = generator.Generate(ids, settings, s => { stdout.Write(s); stdout.Flush(); }, ct);
            stdout.WriteLine();
            Console.Error.WriteLine(
                $"prompt: {stats.PromptTokens} tokens, {stats.PrefillTokensPerSecond:F1} tokens/s | generation: {stats.GeneratedTokens} tokens, {stats.DecodeTokensPerSecond:F1} tokens/s | finish: {stats.Finish}");
            return stats.Finish == FinishReason.Cancelled ? 130 : 0;
        }));
        return cmd;
    }
}
