using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Models;
using RagTune.Models.Local;

namespace RagTune.Cli.Commands;

/// <summary>
/// <c>ragtune chat</c>: an interactive conversation that keeps its history in the KV cache (each turn only
/// computes the new tokens). Ctrl+C stops the reply being written, not the program.
/// </summary>
internal static class ChatCommand
{
    internal const string Help = "/reset, /system <text>, /save <file>, /exit; Ctrl+C stops a reply";

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model: GGUF, llama2.c .bin, Hugging Face folder, or catalog/cache name" };
        var remote = new Option<string?>("--remote") { Description = "Chat with an OpenAI-compatible server instead: base URL (http://host:port/v1) or endpoint name from ~/.ragtune/config.json" };
        var remoteModel = new Option<string?>("--remote-model") { Description = "Model name on the remote server" };
        var apiKeyEnv = new Option<string?>("--api-key-env") { Description = "Environment variable holding the remote server's API key" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file when the model has none" };
        var system = new Option<string?>("--system") { Description = "System prompt" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens per reply", DefaultValueFactory = _ => 512 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0.7f };
        var seed = new Option<long?>("--seed") { Description = "Sampling seed" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var context = new Option<int>("--context") { Description = "Context size in tokens (0 = model's, capped at 16384)" };
        var adapter = AdapterOption.Create();
        var cmd = new Command("chat", "Chat with a local model; " + Help) { model, tokenizer, system, maxTokens, temperature, seed, threads, context, adapter, remote, remoteModel, apiKeyEnv };
        cmd.SetAction((r, ct) => CliRun.Guard(async () =>
        {
            if (r.GetValue(remote) != null && (r.GetValue(model) != null || r.GetValue(adapter) != null))
                throw new UsageException("--remote cannot be combined with --model or --adapter.");
            if (r.GetValue(remote) == null && r.GetValue(model) == null) throw new UsageException("Pass --model <file or name>, or --remote <url or endpoint>.");
            var client = await ChatModels.CreateAsync(new ChatModelSettings
            {
                Model = r.GetValue(model), Tokenizer = r.GetValue(tokenizer), Adapter = r.GetValue(adapter), Threads = r.GetValue(threads), ContextSize = r.GetValue(context),
                Remote = r.GetValue(remote), RemoteModel = r.GetValue(remoteModel), ApiKeyEnv = r.GetValue(apiKeyEnv),
            }, ct);
            if (client.GetService<LocalChatClient>()?.TemplateWarning is { } warning) Console.Error.WriteLine($"note: {warning}");
            client = RagTune.Hosting.Middleware.ClientMiddleware.Chat(client, CliClients.Options());
            using var owned = client;
            var session = new ChatSession(client, r.GetValue(system), new ChatOptions
            {
                Temperature = r.GetValue(temperature),
                MaxOutputTokens = r.GetValue(maxTokens),
                Seed = r.GetValue(seed),
            });
            return await session.RunAsync(Console.In, Console.Out, Console.Error, ct);
        }));
        return cmd;
    }
}

/// <summary>The chat loop, separated from the console so tests can drive it with readers and writers.</summary>
internal sealed class ChatSession(IChatClient client, string? system, ChatOptions options)
{
    private readonly List<ChatMessage> _history = [];
    private string? _system = system;
    private CancellationTokenSource? _reply;

    public IReadOnlyList<ChatMessage> History => _history;

    public async Task<int> RunAsync(TextReader input, TextWriter output, TextWriter status, CancellationToken cancellationToken)
    {
        bool interactive = !Console.IsInputRedirected;
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // Ctrl+C during a reply stops the reply; at the prompt it ends the program as usual.
            if (_reply is { IsCancellationRequested: false } r) { e.Cancel = true; r.Cancel(); }
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            if (interactive) status.WriteLine(ChatHelp);
            while (!cancellationToken.IsCancellationRequested)
            {
                if (interactive) { output.Write("> "); output.Flush(); }
                var line = await input.ReadLineAsync(cancellationToken);
                if (line is null) break;
                if (line.Length == 0) continue;
                if (line.StartsWith('/'))
                {
                    if (!Command(line, status)) break;
                    continue;
                }
                await ReplyAsync(line, output, status, cancellationToken);
            }
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static string ChatHelp => "ragtune chat: " + ChatCommand.Help + ".";

    private bool Command(string line, TextWriter status)
    {
        var space = line.IndexOf(' ');
        var name = space < 0 ? line : line[..space];
        var arg = space < 0 ? "" : line[(space + 1)..].Trim();
        switch (name)
        {
            case "/exit" or "/quit":
                return false;
            case "/reset":
                _history.Clear();
                status.WriteLine("(conversation reset)");
                return true;
            case "/system":
                _system = arg.Length > 0 ? arg : null;
                _history.Clear();
                status.WriteLine(_system is null ? "(system prompt cleared; conversation reset)" : "(system prompt set; conversation reset)");
                return true;
            case "/save":
                if (arg.Length == 0) { status.WriteLine("usage: /save <file.json>"); return true; }
                var messages = Messages().Select(m => new SavedMessage(m.Role.Value, m.Text)).ToArray();
                File.WriteAllText(arg, JsonSerializer.Serialize(messages, ChatJson.Readable.SavedMessageArray));
                status.WriteLine($"(saved {messages.Length} messages to {arg})");
                return true;
            default:
                status.WriteLine($"unknown command {name}; {ChatHelp}");
                return true;
        }
    }

    private IEnumerable<ChatMessage> Messages()
    {
        if (_system != null) yield return new ChatMessage(ChatRole.System, _system);
        foreach (var m in _history) yield return m;
    }

    private async Task ReplyAsync(string text, TextWriter output, TextWriter status, CancellationToken cancellationToken)
    {
        _history.Add(new ChatMessage(ChatRole.User, text));
        using var reply = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _reply = reply;
        var answer = new System.Text.StringBuilder();
        try
        {
            await foreach (var update in client.GetStreamingResponseAsync(Messages().ToList(), options, reply.Token))
            {
                output.Write(update.Text);
                output.Flush();
                answer.Append(update.Text);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            status.Write(" (stopped)");
        }
        finally
        {
            _reply = null;
        }
        output.WriteLine();
        _history.Add(new ChatMessage(ChatRole.Assistant, answer.ToString().Trim()));
    }
}

/// <summary>One message of a saved conversation.</summary>
internal sealed record SavedMessage(string Role, string Content);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(SavedMessage[]))]
internal sealed partial class ChatJson : System.Text.Json.Serialization.JsonSerializerContext
{
    private static ChatJson? s_readable;

    /// <summary>The same contract with printable characters unescaped (<see cref="ReadableJson"/>); made on first use, after <c>Default</c>.</summary>
    public static ChatJson Readable => s_readable ??= new(ReadableJson.Options(Default.Options));
}
