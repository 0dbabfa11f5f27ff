using System.Diagnostics;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Models;
using RagTune.Models.Remote;

namespace RagTune.Cli.Commands.Models;

/// <summary><c>ragtune generate --remote …</c>: streams a completion from an OpenAI-compatible server.</summary>
internal static class RemoteGenerate
{
    public static async Task<int> RunAsync(string remote, string? remoteModel, string? apiKeyEnv, string prompt, ChatOptions options, CancellationToken ct)
    {
        using var client = (OpenAICompatibleChatClient)await ChatModels.CreateAsync(new ChatModelSettings { Remote = remote, RemoteModel = remoteModel, ApiKeyEnv = apiKeyEnv }, ct);
        var (url, model) = (client.BaseUrl, client.Model);
        var stdout = Console.Out;
        var clock = Stopwatch.StartNew();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        int pieces = 0;
        try
        {
            await foreach (var update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, prompt)], options, ct))
            {
                if (update.Text.Length > 0)
                {
                    stdout.Write(update.Text);
                    stdout.Flush();
                    pieces++;
                }
                finish = update.FinishReason ?? finish;
                usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details ?? usage;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            stdout.WriteLine();
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        stdout.WriteLine();
        long tokens = usage?.OutputTokenCount ?? pieces;
        Console.Error.WriteLine($"remote: {url} model {model} | prompt: {usage?.InputTokenCount?.ToString() ?? "?"} tokens | "
            + $"generation: {tokens} tokens, {tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):F1} tokens/s | finish: {finish?.Value ?? "unknown"}");
        return 0;
    }
}
