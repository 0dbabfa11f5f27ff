using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using RagTune.Server.Telemetry;

namespace RagTune.Server;

/// <summary><c>POST /v1/embeddings</c>: served only when an <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> is registered.</summary>
internal static class EmbeddingsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ModelRegistry models, ServerOptions options, ServerTelemetry telemetry)
    {
        if (!models.HasEmbeddings)
            throw OpenAIErrorException.NotFound("No embedding model is loaded on this server; /v1/embeddings is unavailable.", "model", "model_not_found");
        var request = await RequestBody.ReadAsync<EmbeddingRequest>(context, options).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(request.Model)) throw OpenAIErrorException.BadRequest("You must provide a model parameter.", "model");
        if (!models.TryGetEmbedding(request.Model, out var generator))
            throw OpenAIErrorException.NotFound($"The embedding model '{request.Model}' does not exist or is not loaded.", "model", "model_not_found");
        bool base64 = request.EncodingFormat switch
        {
            null or "float" => false,
            "base64" => true,
            _ => throw OpenAIErrorException.BadRequest($"encoding_format '{request.EncodingFormat}' is not supported; use 'float' or 'base64'.", "encoding_format"),
        };
        var inputs = Inputs(request.Input);
        var requestTelemetry = RequestTelemetry.Of(context);
        requestTelemetry.Model = request.Model;
        var result = await generator.GenerateAsync(inputs, new EmbeddingGenerationOptions { ModelId = request.Model, Dimensions = request.Dimensions },
            context.RequestAborted).ConfigureAwait(false);
        var data = result.Select((e, i) => new EmbeddingEntry(i, base64 ? Base64(e.Vector.Span) : e.Vector.ToArray())).ToList();
        int tokens = (int)(result.Usage?.InputTokenCount ?? 0);
        telemetry.Usage(requestTelemetry, tokens, 0);
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, new EmbeddingList(data, request.Model, new EmbeddingUsage(tokens, tokens)),
            OpenAIWire.Json, context.RequestAborted).ConfigureAwait(false);
    }

    // The official clients ask for base64 by default: the float32 values, little-endian, as one string.
    private static string Base64(ReadOnlySpan<float> vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        for (int i = 0; i < vector.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        return Convert.ToBase64String(bytes);
    }

    private static List<string> Inputs(JsonElement? input)
    {
        if (input is { ValueKind: JsonValueKind.String } one) return [one.GetString()!];
        if (input is { ValueKind: JsonValueKind.Array } many)
        {
            var list = new List<string>();
            foreach (var e in many.EnumerateArray())
                list.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw OpenAIErrorException.BadRequest("input must be a string or an array of strings (token arrays are not supported).", "input"));
            if (list.Count > 0) return list;
        }
        throw OpenAIErrorException.BadRequest("input must be a non-empty string or array of strings.", "input");
    }
}
