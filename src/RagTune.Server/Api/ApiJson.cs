using System.Text.Json;
using System.Text.Json.Serialization;

namespace RagTune.Server.Api;

/// <summary>JSON of the RagTune API (<c>/api</c>): camelCase names and enum values, as browsers' JavaScript expects.</summary>
internal static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        NumberHandling = JsonNumberHandling.Strict,
        // Printable characters as they are ("ft+rag"): responses are JSON for programs and people, parsed, never
        // pasted into HTML (the web UI sets text with textContent).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
