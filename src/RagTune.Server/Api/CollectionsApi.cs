using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Collections;

namespace RagTune.Server.Api;

internal sealed class CreateCollectionRequest
{
    public string? Name { get; set; }
}

internal sealed class SearchRequest
{
    public string? Query { get; set; }
    public int K { get; set; } = 10;

    /// <summary>bm25, dense or hybrid; none uses hybrid when the server has an embedding model, else bm25.</summary>
    public string? Mode { get; set; }
}

internal sealed class AskRequest
{
    public string? Question { get; set; }
    public int K { get; set; } = 5;
    public string? Mode { get; set; }

    /// <summary>A served chat model's id; none answers extractively (quoting the sources).</summary>
    public string? Model { get; set; }
    public int MaxTokens { get; set; } = 256;
    public bool Stream { get; set; }
}

/// <summary>
/// <c>/api/collections</c>: create, list, stats, delete; document upload (multipart) that queues an ingestion job;
/// search; ask with verified citations (JSON, or SSE <c>delta</c> events then one <c>answer</c>); cited passages.
/// </summary>
internal static class CollectionsApi
{
    public static void Map(IEndpointRouteBuilder app, ServerOptions options, ModelRegistry models)
    {
        var api = app.MapGroup("/api/collections");
        api.MapGet("", async (CollectionService s, CancellationToken ct) => Results.Json(await s.ListAsync(ct).ConfigureAwait(false), ApiJson.Options));
        api.MapPost("", async (HttpContext c, CollectionService s) =>
        {
            var request = await RequestBody.ReadAsync<CreateCollectionRequest>(c, options, ApiJson.Options).ConfigureAwait(false);
            var info = await s.CreateAsync(request.Name ?? "", c.RequestAborted).ConfigureAwait(false);
            return Results.Json(info, ApiJson.Options, statusCode: StatusCodes.Status201Created);
        });
        api.MapGet("/{name}", async (string name, CollectionService s, CancellationToken ct) =>
            Results.Json(await s.StatsAsync(name, ct).ConfigureAwait(false), ApiJson.Options));
        api.MapDelete("/{name}", (string name, CollectionService s) =>
        {
            s.Delete(name);
            return Results.NoContent();
        });
        api.MapPost("/{name}/documents", async (string name, HttpContext c, CollectionService s, RagTune.Hosting.RagTuneOptions rag) =>
        {
            var files = await MultipartUpload.ReadFilesAsync(c, rag.MaxUploadBytes, (file, body, ct) => s.SaveUploadAsync(name, file, body, ct)).ConfigureAwait(false);
            var job = s.StartIngest(name);
            return Results.Json(new { files, job = job.Snapshot() }, ApiJson.Options, statusCode: StatusCodes.Status202Accepted);
        });
        api.MapPost("/{name}/search", async (string name, HttpContext c, CollectionService s) =>
        {
            var request = await RequestBody.ReadAsync<SearchRequest>(c, options, ApiJson.Options).ConfigureAwait(false);
            return Results.Json((await s.SearchAsync(name, request.Query ?? "", request.K, request.Mode, c.RequestAborted).ConfigureAwait(false)).Passages, ApiJson.Options);
        });
        api.MapPost("/{name}/ask", (string name, HttpContext c, CollectionService s) => AskAsync(name, c, s, options, models));
        api.MapGet("/{name}/chunks/{chunkId:long}", async (string name, long chunkId, CollectionService s, CancellationToken ct) =>
            Results.Json(await s.PassageAsync(name, chunkId, ct).ConfigureAwait(false), ApiJson.Options));
    }

    private static async Task AskAsync(string name, HttpContext c, CollectionService s, ServerOptions options, ModelRegistry models)
    {
        var request = await RequestBody.ReadAsync<AskRequest>(c, options, ApiJson.Options).ConfigureAwait(false);
        ChatCompletionsEndpoint.MaxTokens(request.MaxTokens, "maxTokens");
        Microsoft.Extensions.AI.IChatClient? chat = null;
        if (!string.IsNullOrEmpty(request.Model)) (_, chat) = ChatCompletionsEndpoint.ResolveModel(models, request.Model);
        var ct = c.RequestAborted;
        await using var updates = s.AskAsync(name, request.Question ?? "", request.K, request.Mode, chat, request.Model, new ChatOptions { MaxOutputTokens = request.MaxTokens }, ct).GetAsyncEnumerator(ct);
        // The first step retrieves, checks the request and starts the model: failing there still answers with a status code.
        bool more = await ChatCompletionsEndpoint.Call(() => updates.MoveNextAsync().AsTask()).ConfigureAwait(false);
        if (!request.Stream)
        {
            AskResult? final = null;
            for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false)) final ??= updates.Current.Final;
            await Results.Json(final, ApiJson.Options).ExecuteAsync(c).ConfigureAwait(false);
            return;
        }

        ServerSentEvents.Start(c.Response);
        try
        {
            for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
            {
                var u = updates.Current;
                if (u.Delta.Length > 0) await ServerSentEvents.WriteAsync(c.Response, "delta", new { text = u.Delta }, null, ct).ConfigureAwait(false);
                if (u.Final is { } final) await ServerSentEvents.WriteAsync(c.Response, "answer", final, null, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Headers are gone: report the failure in-band and end the stream.
            await ServerSentEvents.WriteAsync(c.Response, "error", new { message = ChatCompletionsEndpoint.ModelFailure(e).Message }, null, ct).ConfigureAwait(false);
        }
    }
}
