using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using RagTune.Models.Local;
using RagTune.Server.Telemetry;

namespace RagTune.Server;

/// <summary>
/// <c>POST /v1/chat/completions</c>: maps OpenAI's request onto <see cref="IChatClient"/> and the answer back,
/// as one JSON object or as server-sent <c>chat.completion.chunk</c> events ending in <c>data: [DONE]</c>.
/// </summary>
internal static class ChatCompletionsEndpoint
{
    private static readonly byte[] s_done = "data: [DONE]\n\n"u8.ToArray();

    public static async Task HandleAsync(HttpContext context, ModelRegistry models, ServerOptions options, ILogger log, ServerTelemetry telemetry,
        RagTune.Hosting.Collections.CollectionService collections)
    {
        var request = await RequestBody.ReadAsync<ChatCompletionRequest>(context, options).ConfigureAwait(false);
        if (request.Model?.StartsWith(RagChatCompletions.Prefix, StringComparison.Ordinal) == true)
        {
            await RagChatCompletions.HandleAsync(context, request, models, options, collections, log, telemetry).ConfigureAwait(false);
            return;
        }
        var (id, client) = ResolveModel(models, request.Model);
        var messages = MapMessages(request.Messages);
        var chatOptions = MapOptions(request);
        var started = Stopwatch.GetTimestamp();
        var requestTelemetry = RequestTelemetry.Of(context);
        requestTelemetry.Model = id;
        if (request.Stream == true)
        {
            var (usage, finish) = await StreamAsync(context, id, client, messages, chatOptions, request.StreamOptions?.IncludeUsage == true,
                () => telemetry.FirstToken(requestTelemetry, Stopwatch.GetElapsedTime(requestTelemetry.StartedAt))).ConfigureAwait(false);
            if (usage is null) requestTelemetry.ErrorType ??= "server_error";
            else telemetry.Usage(requestTelemetry, usage.PromptTokens, usage.CompletionTokens);
            log.LogInformation("Chat completion {Model} stream=true prompt={PromptTokens} completion={CompletionTokens} finish={Finish} in {ElapsedMs:F0} ms",
                id, usage?.PromptTokens, usage?.CompletionTokens, finish, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return;
        }

        var response = await Call(() => client.GetResponseAsync(messages, chatOptions, context.RequestAborted)).ConfigureAwait(false);
        var wireUsage = Usage(response.Usage);
        var finishReason = FinishReason(response.FinishReason);
        telemetry.Usage(requestTelemetry, wireUsage.PromptTokens, wireUsage.CompletionTokens);
        var completion = new ChatCompletion(NewId(), Now(), id, [new ChatChoice(0, new AssistantMessage(response.Text), finishReason)], wireUsage);
        log.LogInformation("Chat completion {Model} stream=false prompt={PromptTokens} completion={CompletionTokens} finish={Finish} in {ElapsedMs:F0} ms",
            id, wireUsage.PromptTokens, wireUsage.CompletionTokens, finishReason, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, completion, OpenAIWire.Json, context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<(WireUsage? Usage, string Finish)> StreamAsync(HttpContext context, string model, IChatClient client,
        List<ChatMessage> messages, ChatOptions chatOptions, bool includeUsage, Action firstToken)
    {
        var ct = context.RequestAborted;
        var id = NewId();
        var created = Now();
        UsageDetails? usage = null;
        ChatFinishReason? finish = null;
        bool sawText = false;
        await using var updates = client.GetStreamingResponseAsync(messages, chatOptions, ct).GetAsyncEnumerator(ct);
        // The first step renders and checks the prompt; failing here still answers with a status code.
        bool more = await Call(() => updates.MoveNextAsync().AsTask()).ConfigureAwait(false);

        await BeginStreamAsync(context, id, created, model).ConfigureAwait(false);
        try
        {
            for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
            {
                var update = updates.Current;
                if (update.FinishReason is { } f) finish = f;
                foreach (var content in update.Contents)
                    if (content is UsageContent u) usage = u.Details;
                if (update.Text is { Length: > 0 } text)
                {
                    if (!sawText) { sawText = true; firstToken(); }
                    await WriteEventAsync(context, new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta(null, text))])).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Headers are gone; report in-band the way OpenAI does and end the stream.
            var error = new ErrorBody(new ErrorDetail(ModelFailure(e).Message, "server_error", null, null));
            await WriteEventAsync(context, error).ConfigureAwait(false);
            return (null, "error");
        }

        var finishReason = FinishReason(finish);
        var wireUsage = Usage(usage);
        await EndStreamAsync(context, new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta(null, null)) { FinishReason = finishReason }]),
            wireUsage, includeUsage).ConfigureAwait(false);
        return (wireUsage, finishReason);
    }

    /// <summary>Starts a completion's event stream: the SSE headers, then the chunk that opens the assistant's message.</summary>
    internal static Task BeginStreamAsync(HttpContext context, string id, long created, string model)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        return WriteEventAsync(context, new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta("assistant", ""))]));
    }

    /// <summary>
    /// Ends a completion's event stream as OpenAI does: the chunk with the finish reason, then (when the request
    /// set <c>stream_options.include_usage</c>) a chunk with no choices that carries the usage, then <c>[DONE]</c>.
    /// </summary>
    internal static async Task EndStreamAsync(HttpContext context, ChatCompletionChunk finish, WireUsage usage, bool includeUsage)
    {
        await WriteEventAsync(context, finish).ConfigureAwait(false);
        if (includeUsage)
            await WriteEventAsync(context, new ChatCompletionChunk(finish.Id, finish.Created, finish.Model, []) { Usage = usage }).ConfigureAwait(false);
        await context.Response.Body.WriteAsync(s_done, context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    internal static async Task WriteEventAsync<T>(HttpContext context, T payload)
    {
        var body = context.Response.Body;
        await body.WriteAsync("data: "u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
        await body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(payload, OpenAIWire.Json), context.RequestAborted).ConfigureAwait(false);
        await body.WriteAsync("\n\n"u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
        await body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Runs a model call, turning the failures a caller caused (bad conversation, prompt too long) into 400s.</summary>
    internal static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or ContextLengthExceededException)
        {
            throw ModelFailure(e);
        }
    }

    internal static OpenAIErrorException ModelFailure(Exception e) => e switch
    {
        OpenAIErrorException o => o,
        ArgumentException => OpenAIErrorException.BadRequest(e.Message, "messages"),
        ContextLengthExceededException => OpenAIErrorException.BadRequest(e.Message, "messages", "context_length_exceeded"),
        _ => new OpenAIErrorException(StatusCodes.Status500InternalServerError, "The model failed while generating: " + e.Message, "server_error"),
    };

    internal static (string Id, IChatClient Client) ResolveModel(ModelRegistry models, string? model)
    {
        if (string.IsNullOrWhiteSpace(model))
            throw OpenAIErrorException.BadRequest("You must provide a model parameter.", "model");
        if (models.TryGetChat(model, out var client)) return (model, client);
        if (models.IsEmbeddingOnly(model))
            throw OpenAIErrorException.BadRequest($"The model '{model}' is an embedding model and cannot do chat completions.", "model");
        throw OpenAIErrorException.NotFound(
            $"The model '{model}' does not exist or is not loaded. Loaded models: {(models.Ids.Count == 0 ? "none" : string.Join(", ", models.Ids))}.",
            "model", "model_not_found");
    }

    internal static List<ChatMessage> MapMessages(List<WireMessage>? wire)
    {
        if (wire is null || wire.Count == 0)
            throw OpenAIErrorException.BadRequest("'messages' must be a non-empty array.", "messages");
        var messages = new List<ChatMessage>(wire.Count);
        for (int i = 0; i < wire.Count; i++)
        {
            var m = wire[i] ?? throw OpenAIErrorException.BadRequest($"messages[{i}] is null.", $"messages[{i}]");
            var role = m.Role switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                "tool" => ChatRole.Tool,
                null => throw OpenAIErrorException.BadRequest($"messages[{i}].role is missing.", $"messages[{i}].role"),
                _ => throw OpenAIErrorException.BadRequest($"messages[{i}].role '{m.Role}' is not one of system, developer, user, assistant, tool.", $"messages[{i}].role"),
            };
            messages.Add(new ChatMessage(role, ContentText(m.Content, i)) { AuthorName = m.Name });
        }
        return messages;
    }

    private static string ContentText(JsonElement? content, int index)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null) return "";
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array)
            throw OpenAIErrorException.BadRequest($"messages[{index}].content must be a string or an array of content parts.", $"messages[{index}].content");
        var text = new System.Text.StringBuilder();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw OpenAIErrorException.BadRequest($"messages[{index}].content parts must be objects with a 'type'.", $"messages[{index}].content");
            if (type.GetString() != "text" || !part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw OpenAIErrorException.BadRequest($"messages[{index}].content: only 'text' parts are supported (got '{type.GetString()}').", $"messages[{index}].content");
            text.Append(t.GetString());
        }
        return text.ToString();
    }

    internal static ChatOptions MapOptions(ChatCompletionRequest r)
    {
        if (r.N is { } n && n != 1) throw OpenAIErrorException.BadRequest($"n={n} is not supported; this server returns one choice (n=1).", "n");
        if (r.Temperature is { } t && (t < 0 || t > 2 || float.IsNaN(t))) throw OpenAIErrorException.BadRequest($"temperature {t} is out of range; use 0 to 2.", "temperature");
        if (r.TopP is { } p && (p <= 0 || p > 1 || float.IsNaN(p))) throw OpenAIErrorException.BadRequest($"top_p {p} is out of range; use a value above 0 and at most 1.", "top_p");
        var max = r.MaxCompletionTokens is { } mc ? MaxTokens(mc, "max_completion_tokens") : r.MaxTokens is { } mt ? MaxTokens(mt, "max_tokens") : (int?)null;
        return new ChatOptions
        {
            ModelId = r.Model,
            Temperature = r.Temperature,
            TopP = r.TopP,
            MaxOutputTokens = max,
            Seed = r.Seed,
            StopSequences = Stops(r.Stop),
        };
    }

    /// <summary>
    /// The most tokens one completion may ask for: the longest context of any model family the engine runs
    /// (Llama 3.1, 131072 positions), since no completion can outgrow its context. Larger requests are refused,
    /// never clamped.
    /// </summary>
    internal const int MaxTokensLimit = 131072;

    /// <summary><paramref name="value"/> as a token count in 1..<see cref="MaxTokensLimit"/>; a 400 naming <paramref name="param"/> otherwise.</summary>
    internal static int MaxTokens(double value, string param)
    {
        if (value != Math.Floor(value))
            throw OpenAIErrorException.BadRequest($"{param} {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} is not a whole number of tokens.", param);
        if (value < 1)
            throw OpenAIErrorException.BadRequest($"{param} {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} must be at least 1.", param);
        if (value > MaxTokensLimit)
            throw OpenAIErrorException.BadRequest($"{param} {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} is above the limit of {MaxTokensLimit} tokens (no model this server runs has a longer context); ask for at most {MaxTokensLimit}, or leave it out for the server's default.", param);
        return (int)value;
    }

    private static List<string>? Stops(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind == JsonValueKind.Null) return null;
        if (s.ValueKind == JsonValueKind.String) return s.GetString() is { Length: > 0 } one ? [one] : null;
        if (s.ValueKind != JsonValueKind.Array) throw OpenAIErrorException.BadRequest("stop must be a string or an array of strings.", "stop");
        var list = new List<string>();
        foreach (var e in s.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || e.GetString() is not { Length: > 0 } v)
                throw OpenAIErrorException.BadRequest("stop must contain only non-empty strings.", "stop");
            list.Add(v);
        }
        if (list.Count > 4) throw OpenAIErrorException.BadRequest($"stop has {list.Count} sequences; at most 4 are allowed.", "stop");
        return list.Count == 0 ? null : list;
    }

    internal static string FinishReason(ChatFinishReason? reason) =>
        reason == ChatFinishReason.Length ? "length"
        : reason == ChatFinishReason.ContentFilter ? "content_filter"
        : reason == ChatFinishReason.ToolCalls ? "tool_calls"
        : "stop";

    internal static WireUsage Usage(UsageDetails? u)
    {
        int prompt = (int)(u?.InputTokenCount ?? 0), completion = (int)(u?.OutputTokenCount ?? 0);
        return new WireUsage(prompt, completion, (int)(u?.TotalTokenCount ?? prompt + completion));
    }

    internal static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");

    internal static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
