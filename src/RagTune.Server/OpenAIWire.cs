using System.Text.Json;
using System.Text.Json.Serialization;

namespace RagTune.Server;

// The OpenAI wire format (https://platform.openai.com/docs/api-reference/chat), only the fields we read or
// write. Names are mapped snake_case by OpenAIWire.Json; nulls are omitted unless a field says otherwise,
// because OpenAI sends e.g. "finish_reason": null on every chunk but the last.

internal static class OpenAIWire
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.Strict,
        // As the RagTune API: printable characters unescaped (see ApiJson).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

internal sealed class ChatCompletionRequest
{
    public string? Model { get; set; }
    public List<WireMessage>? Messages { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    // Read as numbers of any shape (2e9, 2.5, -1) so that MapOptions can refuse them by name, not as unparsable JSON.
    public double? MaxTokens { get; set; }
    public double? MaxCompletionTokens { get; set; }
    public JsonElement? Stop { get; set; }
    public long? Seed { get; set; }
    public bool? Stream { get; set; }
    public WireStreamOptions? StreamOptions { get; set; }
    public int? N { get; set; }
}

internal sealed class WireStreamOptions
{
    public bool? IncludeUsage { get; set; }
}

internal sealed class WireMessage
{
    public string? Role { get; set; }
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
}

internal sealed record ChatCompletion(string Id, long Created, string Model, IReadOnlyList<ChatChoice> Choices, WireUsage Usage)
{
    [JsonPropertyOrder(-1)]
    public string Object => "chat.completion";

    /// <summary>A <c>rag:</c> model's numbered sources (our extension; standard clients ignore unknown fields).</summary>
    public IReadOnlyList<WireCitation>? Citations { get; init; }
}

/// <summary>A numbered source of a <c>rag:</c> answer: its document, title, span in the document, text, and whether the answer cites it.</summary>
internal sealed record WireCitation(int Number, string Document, string Source, long ChunkId, IReadOnlyList<int> Span, string Text, bool Cited);

internal sealed record ChatChoice(int Index, AssistantMessage Message, string FinishReason)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public object? Logprobs => null;
}

internal sealed record AssistantMessage(string Content)
{
    public string Role => "assistant";
}

internal sealed record ChatCompletionChunk(string Id, long Created, string Model, IReadOnlyList<ChunkChoice> Choices)
{
    [JsonPropertyOrder(-1)]
    public string Object => "chat.completion.chunk";

    /// <summary>Present (null) on every chunk when usage was asked for, set on the last one, as OpenAI does.</summary>
    public WireUsage? Usage { get; init; }

    /// <summary>A <c>rag:</c> model's numbered sources, on the chunk that carries the finish reason.</summary>
    public IReadOnlyList<WireCitation>? Citations { get; init; }
}

internal sealed record ChunkChoice(int Index, ChunkDelta Delta)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public object? Logprobs => null;
}

internal sealed record ChunkDelta(string? Role, string? Content);

internal sealed record WireUsage(int PromptTokens, int CompletionTokens, int TotalTokens);

internal sealed record ModelList(IReadOnlyList<ModelEntry> Data)
{
    [JsonPropertyOrder(-1)]
    public string Object => "list";
}

internal sealed record ModelEntry(string Id, long Created)
{
    [JsonPropertyOrder(-1)]
    public string Object => "model";
    public string OwnedBy => "ragtune";
}

internal sealed class EmbeddingRequest
{
    public string? Model { get; set; }
    public JsonElement? Input { get; set; }
    public string? EncodingFormat { get; set; }
    public int? Dimensions { get; set; }
}

internal sealed record EmbeddingList(IReadOnlyList<EmbeddingEntry> Data, string Model, EmbeddingUsage Usage)
{
    [JsonPropertyOrder(-1)]
    public string Object => "list";
}

/// <remarks><see cref="Embedding"/> is a float array, or a base64 string of little-endian float32 values when asked for.</remarks>
internal sealed record EmbeddingEntry(int Index, object Embedding)
{
    [JsonPropertyOrder(-1)]
    public string Object => "embedding";
}

internal sealed record EmbeddingUsage(int PromptTokens, int TotalTokens);

internal sealed record ErrorBody(ErrorDetail Error);

internal sealed record ErrorDetail(string Message, string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);
