using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RagTune.Hosting.Collections;

namespace RagTune.Server;

/// <summary>
/// <c>rag:{collection}</c> chat models: the last user message is the question, answered by the collection's
/// retrieve + grounded answer with the first chat model; the numbered sources travel in an extra top-level
/// <c>citations</c> field (on the final chunk when streaming), which standard OpenAI clients ignore.
/// </summary>
internal static class RagChatCompletions
{
    public const string Prefix = "rag:";

    private static readonly byte[] s_done = "data: [DONE]\n\n"u8.ToArray();

    /// <summary>The <c>rag:</c> ids served now: one per collection in the data directory, when a chat model can answer.</summary>
    public static IEnumerable<string> Ids(ModelRegistry models, CollectionService collections) =>
        models.FirstChatId is null ? [] : collections.Names().Select(n => Prefix + n);

    public static async Task HandleAsync(HttpContext context, ChatCompletionRequest request, ModelRegistry models, ServerOptions options,
        CollectionService collections, ILogger log)
    {
        var model = request.Model!;
        var collection = model[Prefix.Length..];
        var chatId = models.FirstChatId
            ?? throw OpenAIErrorException.NotFound($"The model '{model}' needs a chat model to answer with; start the server with --model.", "model", "model_not_found");
        if (!collections.Names().Contains(collection, StringComparer.Ordinal))
            throw OpenAIErrorException.NotFound($"The model '{model}' does not exist: there is no collection '{collection}' (GET /v1/models lists the rag: models).", "model", "model_not_found");
        var (_, chat) = ChatCompletionsEndpoint.ResolveModel(models, chatId);
        var messages = ChatCompletionsEndpoint.MapMessages(request.Messages);
        var chatOptions = ChatCompletionsEndpoint.MapOptions(request);
        var question = messages.LastOrDefault(m => m.Role == Microsoft.Extensions.AI.ChatRole.User)?.Text;
        if (string.IsNullOrWhiteSpace(question))
            throw OpenAIErrorException.BadRequest($"The model '{model}' answers the last user message, and there is none (or it is empty).", "messages");

        var started = Stopwatch.GetTimestamp();
        Telemetry.RequestTelemetry.Of(context).Model = model;
        var ct = context.RequestAborted;
        await using var updates = collections.AskAsync(collection, question, options.RagSources, null, chat, chatId,
            chatOptions.MaxOutputTokens ?? 256, ct).GetAsyncEnumerator(ct);
        // The first step retrieves and starts the model: failing there still answers with a status code.
        bool more = await ChatCompletionsEndpoint.Call(() => updates.MoveNextAsync().AsTask()).ConfigureAwait(false);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = ChatCompletionsEndpoint.Now();
        AskResult? final = null;
        if (request.Stream != true)
        {
            for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false)) final ??= updates.Current.Final;
            var completion = new ChatCompletion(id, created, model, [new ChatChoice(0, new AssistantMessage(final?.Answer ?? ""), "stop")], new WireUsage(0, 0, 0))
            {
                Citations = Citations(final),
            };
            context.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(context.Response.Body, completion, OpenAIWire.Json, ct).ConfigureAwait(false);
        }
        else
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers["X-Accel-Buffering"] = "no";
            await WriteEventAsync(context, new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta("assistant", ""))])).ConfigureAwait(false);
            try
            {
                for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
                {
                    var u = updates.Current;
                    final ??= u.Final;
                    if (u.Delta.Length > 0)
                        await WriteEventAsync(context, new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta(null, u.Delta))])).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await WriteEventAsync(context, new ErrorBody(new ErrorDetail(ChatCompletionsEndpoint.ModelFailure(e).Message, "server_error", null, null))).ConfigureAwait(false);
                return;
            }
            await WriteEventAsync(context, new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta(null, null)) { FinishReason = "stop" }])
            {
                Citations = Citations(final),
            }).ConfigureAwait(false);
            await context.Response.Body.WriteAsync(s_done, ct).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(ct).ConfigureAwait(false);
        }
        log.LogInformation("RAG chat completion {Model} with {ChatModel} stream={Stream} sources={Sources} abstained={Abstained} in {ElapsedMs:F0} ms",
            model, chatId, request.Stream == true, final?.Sources.Count, final?.Abstained, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private static List<WireCitation> Citations(AskResult? answer) =>
        answer is null ? [] : [.. answer.Sources.Select(s => new WireCitation(s.Number, s.DocumentId, s.Title, s.ChunkId, [s.Start, s.End], s.Text, s.Cited))];

    private static async Task WriteEventAsync<T>(HttpContext context, T payload)
    {
        var body = context.Response.Body;
        await body.WriteAsync("data: "u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
        await body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(payload, OpenAIWire.Json), context.RequestAborted).ConfigureAwait(false);
        await body.WriteAsync("\n\n"u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
        await body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
