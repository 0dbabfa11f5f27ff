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
    };
}
