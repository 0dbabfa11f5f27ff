using System.Text.Json;
using System.Text.Json.Serialization;
using RagTune.Hosting.Collections;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Mcp;

/// <summary>Tool results (the result records every front end sends) in snake_case, the naming MCP tool schemas conventionally use.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SearchResponse))]
[JsonSerializable(typeof(AskResult))]
internal sealed partial class McpJson : JsonSerializerContext;

/// <summary>Reads and checks a tool call's arguments against the tool's schema, failing with a message that names the argument.</summary>
internal sealed class ToolArguments(string tool, IDictionary<string, JsonElement>? arguments)
{
    private readonly IDictionary<string, JsonElement> _args = arguments ?? new Dictionary<string, JsonElement>();

    /// <summary>Refuses arguments the tool does not take (a typo would otherwise be silently ignored).</summary>
    public void OnlyThese(params string[] names)
    {
        foreach (var key in _args.Keys)
            if (!names.Contains(key))
                throw new ToolArgumentException($"{tool}: unknown argument '{key}'; the arguments are {string.Join(", ", names)}.");
    }

    public string RequiredString(string name)
    {
        if (!_args.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new ToolArgumentException($"{tool}: the argument '{name}' is required.");
        if (v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
            throw new ToolArgumentException($"{tool}: '{name}' must be a non-empty string.");
        return v.GetString()!;
    }

    public string? OptionalString(string name)
    {
        if (!_args.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
            throw new ToolArgumentException($"{tool}: '{name}' must be a non-empty string.");
        return v.GetString();
    }

    public int Int(string name, int fallback, int min, int max)
    {
        if (!_args.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n))
            throw new ToolArgumentException($"{tool}: '{name}' must be an integer from {min} to {max}.");
        if (n < min || n > max) throw new ToolArgumentException($"{tool}: '{name}' is {n}; use {min} to {max}.");
        return n;
    }

    public string? OptionalEnum(string name, params string[] choices)
    {
        if (!_args.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String || !choices.Contains(v.GetString()))
            throw new ToolArgumentException($"{tool}: '{name}' must be one of {string.Join(", ", choices)}.");
        return v.GetString();
    }

    public SearchFilter Filters(string name)
    {
        if (!_args.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null) return SearchFilter.None;
        if (v.ValueKind != JsonValueKind.Object)
            throw new ToolArgumentException($"{tool}: '{name}' must be an object of metadata key to value, e.g. {{\"ext\": \"md\"}}.");
        var conditions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            conditions[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => p.Value.GetRawText(),
                _ => throw new ToolArgumentException($"{tool}: '{name}.{p.Name}' must be a string (metadata values are compared as text)."),
            };
        }
        return conditions.Count == 0 ? SearchFilter.None : new SearchFilter(conditions);
    }
}

/// <summary>A tool was called with arguments that do not fit its schema.</summary>
internal sealed class ToolArgumentException(string message) : Exception(message);
