using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RagTune.Hosting.Collections;
using RagTune.Server.Telemetry;

namespace RagTune.Server;

/// <summary>
/// <c>rag:{collection}</c> chat models: the last user message is the question, answered by the collection's
/// retrieve + grounded answer with the first chat model; the numbered sources travel in an extra top-level
/// <c>citations</c> field (on the final chunk when streaming), which standard OpenAI clients ignore. Like any
/// other model id they honour temperature, top_p, seed, stop and max_tokens, and report the usage of the model call
/// behind the answer (the grounded prompt with its sources is the prompt); without a temperature the answer is
/// greedy (temperature 0), so it is reproducible. An abstention decided before the model was called reports zero
/// tokens.
/// </summary>
internal static class RagChatCompletions
{
    public const string Prefix = "rag:";

    /// <summary>The <c>rag:</c> ids served now: one per collection in the data directory, when a chat model can answer.</summary>
    public static IEnumerable<string> Ids(ModelRegistry models, CollectionService collections) =>
        models.FirstChatId is null ? [] : collections.Names().Select(n => Prefix + n);

    public static async Task HandleAsync(HttpContext context, ChatCompletionRequest request, ModelRegistry models, ServerOptions options,
        CollectionService collections, ILogger log, ServerTelemetry telemetry)
    {
        var model = request.Model!;
        var collection = model[Prefix.Length..];
        var chatId = models.FirstChatId
            ?? throw OpenAIErrorException.NotFound($"The model '{model}' needs a chat model to answer with; start the server with --model.", "model", "model_not_found");
        if (!collections.Names().Contains(collection, StringComparer.Ordinal))
            throw OpenAIErrorException.NotFound($"The model '{model}' does not exist: there is no collection '{collection}' (GET /v1/models lists the rag: models).", "model", "model_not_found");
        var (_, chat) = ChatCompletionsEndpoint.ResolveModel(models, chatId);
        var messages = ChatCompletionsEndpoint.MapMessages(request.Messages);
        // The answering model gets its own id (AskAsync sets it), never "rag:…": a remote client sends it upstream.
        var chatOptions = ChatCompletionsEndpoint.MapOptions(request);
        var question = messages.LastOrDefault(m => m.Role == Microsoft.Extensions.AI.ChatRole.User)?.Text;
        if (string.IsNullOrWhiteSpace(question))
            throw OpenAIErrorException.BadRequest($"The model '{model}' answers the last user message, and there is none (or it is empty).", "messages");

        var started = Stopwatch.GetTimestamp();
        var requestTelemetry = RequestTelemetry.Of(context);
        requestTelemetry.Model = model;
        var ct = context.RequestAborted;
        await using var updates = collections.AskAsync(collection, question, options.RagSources, null, chat, chatId, chatOptions, ct).GetAsyncEnumerator(ct);
        // The first step retrieves and starts the model: failing there still answers with a status code.
        bool more = await ChatCompletionsEndpoint.Call(() => updates.MoveNextAsync().AsTask()).ConfigureAwait(false);
        string id = ChatCompletionsEndpoint.NewId();
        long created = ChatCompletionsEndpoint.Now();
        AskResult? final = null;
        if (request.Stream != true)
        {
            for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false)) final ??= updates.Current.Final;
            var completion = new ChatCompletion(id, created, model, [new ChatChoice(0, new AssistantMessage(final?.Answer ?? ""), FinishReason(final))], Usage(final))
            {
                Citations = Citations(final),
            };
            context.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(context.Response.Body, completion, OpenAIWire.Json, ct).ConfigureAwait(false);
        }
        else
        {
            await ChatCompletionsEndpoint.BeginStreamAsync(context, id, created, model).ConfigureAwait(false);
            bool sawText = false;
            try
            {
                for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
                {
                    var u = updates.Current;
                    final ??= u.Final;
                    if (u.Delta.Length == 0) continue;
                    if (!sawText)
                    {
                        sawText = true;
                        telemetry.FirstToken(requestTelemetry, Stopwatch.GetElapsedTime(requestTelemetry.StartedAt));
                    }
                    await ChatCompletionsEndpoint.WriteEventAsync(context, new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta(null, u.Delta))])).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                requestTelemetry.ErrorType ??= "server_error";
                await ChatCompletionsEndpoint.WriteEventAsync(context, new ErrorBody(new ErrorDetail(ChatCompletionsEndpoint.ModelFailure(e).Message, "server_error", null, null))).ConfigureAwait(false);
                return;
            }
            await ChatCompletionsEndpoint.EndStreamAsync(context,
                new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, new ChunkDelta(null, null)) { FinishReason = FinishReason(final) }]) { Citations = Citations(final) },
                Usage(final), request.StreamOptions?.IncludeUsage == true).ConfigureAwait(false);
        }
        var usage = Usage(final);
        telemetry.Usage(requestTelemetry, usage.PromptTokens, usage.CompletionTokens);
        log.LogInformation("RAG chat completion {Model} with {ChatModel} stream={Stream} prompt={PromptTokens} completion={CompletionTokens} finish={Finish} sources={Sources} abstained={Abstained} in {ElapsedMs:F0} ms",
            model, chatId, request.Stream == true, usage.PromptTokens, usage.CompletionTokens, FinishReason(final), final?.Sources.Count, final?.Abstained,
            Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private static WireUsage Usage(AskResult? answer) =>
        answer is null ? new WireUsage(0, 0, 0) : new WireUsage(answer.Usage.PromptTokens, answer.Usage.CompletionTokens, answer.Usage.TotalTokens);

    private static string FinishReason(AskResult? answer) => answer?.FinishReason ?? "stop";

    private static List<WireCitation> Citations(AskResult? answer) =>
        answer is null ? [] : [.. answer.Sources.Select(s => new WireCitation(s.Number, s.DocumentId, s.Title, s.ChunkId, [s.Start, s.End], s.Text, s.Cited))];
}
