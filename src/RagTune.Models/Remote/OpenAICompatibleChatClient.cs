using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;
using AIFinishReason = Microsoft.Extensions.AI.ChatFinishReason;
using OpenAIChatMessage = OpenAI.Chat.ChatMessage;
using OpenAIFinishReason = OpenAI.Chat.ChatFinishReason;

namespace RagTune.Models.Remote;

/// <summary>
/// An <see cref="IChatClient"/> over any OpenAI-compatible <c>/chat/completions</c> endpoint (vLLM, TGI, llama.cpp
/// server, Ollama, OpenAI), through the official OpenAI .NET client. Text only: system, user and assistant turns.
/// Failures become <see cref="RemoteModelException"/>s that name the URL and the status.
/// </summary>
public sealed class OpenAICompatibleChatClient : IChatClient
{
    private const string ChatPath = "/chat/completions";
    private readonly OpenAIEndpoint _endpoint;
    private readonly ConcurrentDictionary<string, ChatClient> _clients = new(StringComparer.Ordinal);
    private readonly ChatClientMetadata _metadata;

    /// <summary>Creates a client for <paramref name="model"/> at <paramref name="baseUrl"/>.</summary>
    /// <param name="baseUrl">The API root, e.g. <c>http://127.0.0.1:8080/v1</c>.</param>
    /// <param name="model">The model name the server knows (<c>model</c> in each request).</param>
    /// <param name="apiKey">Bearer key; null sends a placeholder, which local servers ignore.</param>
    /// <param name="options">Retries, timeout; null uses the defaults.</param>
    public OpenAICompatibleChatClient(Uri baseUrl, string model, string? apiKey = null, OpenAICompatibleClientOptions? options = null)
    {
        _endpoint = new OpenAIEndpoint(baseUrl, model, apiKey, options ?? new OpenAICompatibleClientOptions());
        _metadata = new ChatClientMetadata("openai-compatible", baseUrl, model);
    }

    /// <summary>The API root requests go to.</summary>
    public Uri BaseUrl => _endpoint.BaseUrl;

    /// <summary>The default model name.</summary>
    public string Model => _endpoint.Model;

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (model, wire, request) = Prepare(messages, options);
        ChatCompletion completion;
        try
        {
            completion = (await Client(model).CompleteChatAsync(wire, request, cancellationToken).ConfigureAwait(false)).Value;
        }
        catch (Exception e) when (_endpoint.Translate(e, ChatPath, model, cancellationToken) is { } translated)
        {
            throw translated;
        }
        var text = string.Concat(completion.Content.Where(p => p.Kind == ChatMessageContentPartKind.Text).Select(p => p.Text));
        return new ChatResponse(new AIChatMessage(AIChatRole.Assistant, text))
        {
            ResponseId = completion.Id,
            ModelId = completion.Model,
            CreatedAt = completion.CreatedAt,
            FinishReason = Map(completion.FinishReason),
            Usage = completion.Usage is { } u ? Usage(u) : null,
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (model, wire, request) = Prepare(messages, options);
        IAsyncEnumerator<StreamingChatCompletionUpdate>? updates = null;
        try
        {
            try
            {
                updates = Client(model).CompleteChatStreamingAsync(wire, request, cancellationToken).GetAsyncEnumerator(cancellationToken);
            }
            catch (Exception e) when (_endpoint.Translate(e, ChatPath, model, cancellationToken) is { } translated)
            {
                throw translated;
            }
            while (true)
            {
                StreamingChatCompletionUpdate u;
                try
                {
                    if (!await updates.MoveNextAsync().ConfigureAwait(false)) break;
                    u = updates.Current;
                }
                catch (Exception e) when (_endpoint.Translate(e, ChatPath, model, cancellationToken) is { } translated)
                {
                    throw translated;
                }
                var update = new ChatResponseUpdate
                {
                    ResponseId = u.CompletionId,
                    ModelId = u.Model,
                    CreatedAt = u.CreatedAt,
                    Role = u.Role is { } role ? Map(role) : AIChatRole.Assistant,
                    FinishReason = u.FinishReason is { } f ? Map(f) : null,
                };
                foreach (var part in u.ContentUpdate)
                    if (part.Kind == ChatMessageContentPartKind.Text && !string.IsNullOrEmpty(part.Text))
                        update.Contents.Add(new TextContent(part.Text));
                if (u.Usage is { } usage)
                    update.Contents.Add(new UsageContent(Usage(usage)));
                // Role-only and empty keep-alive chunks carry nothing a caller can use.
                if (update.Contents.Count > 0 || update.FinishReason != null)
                    yield return update;
            }
        }
        finally
        {
            if (updates != null) await updates.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(ChatClient)) return Client(_endpoint.Model);
        if (serviceType.IsInstanceOfType(this)) return this;
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // The OpenAI client shares a static HttpClient; nothing of ours to release.
    }

    private ChatClient Client(string model) => _clients.GetOrAdd(model, m => _endpoint.Client.GetChatClient(m));

    private (string Model, List<OpenAIChatMessage> Messages, ChatCompletionOptions Options) Prepare(IEnumerable<AIChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var wire = new List<OpenAIChatMessage>();
        foreach (var m in messages)
        {
            var text = m.Text;
            if (m.Role == AIChatRole.System) wire.Add(new SystemChatMessage(text));
            else if (m.Role == AIChatRole.User) wire.Add(new UserChatMessage(text));
            else if (m.Role == AIChatRole.Assistant) wire.Add(new AssistantChatMessage(text));
            else throw new ArgumentException($"Message role '{m.Role}' is not supported by the OpenAI-compatible client; use system, user or assistant.", nameof(messages));
        }
        if (wire.Count == 0) throw new ArgumentException("Pass at least one message.", nameof(messages));

        var request = new ChatCompletionOptions
        {
            Temperature = options?.Temperature,
            TopP = options?.TopP,
            MaxOutputTokenCount = options?.MaxOutputTokens,
            FrequencyPenalty = options?.FrequencyPenalty,
            PresencePenalty = options?.PresencePenalty,
        };
#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI client; the wire field is stable and widely supported.
        if (options?.Seed is { } seed) request.Seed = seed;
#pragma warning restore OPENAI001
        if (options?.StopSequences is { } stops)
            foreach (var s in stops) request.StopSequences.Add(s);
        return (options?.ModelId is { Length: > 0 } id ? id : _endpoint.Model, wire, request);
    }

    private static AIChatRole Map(ChatMessageRole role) => role switch
    {
        ChatMessageRole.System => AIChatRole.System,
        ChatMessageRole.User => AIChatRole.User,
        ChatMessageRole.Tool => AIChatRole.Tool,
        _ => AIChatRole.Assistant,
    };

    private static AIFinishReason Map(OpenAIFinishReason reason) => reason switch
    {
        OpenAIFinishReason.Length => AIFinishReason.Length,
        OpenAIFinishReason.ContentFilter => AIFinishReason.ContentFilter,
        OpenAIFinishReason.ToolCalls or OpenAIFinishReason.FunctionCall => AIFinishReason.ToolCalls,
        _ => AIFinishReason.Stop,
    };

    private static UsageDetails Usage(ChatTokenUsage u) => new()
    {
        InputTokenCount = u.InputTokenCount,
        OutputTokenCount = u.OutputTokenCount,
        TotalTokenCount = u.TotalTokenCount,
    };
}
