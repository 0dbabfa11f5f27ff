using System.Text.Json;
using System.Text.Json.Serialization;
using RagTune.Hosting.Collections;
using RagTune.Rag.Answering;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Mcp;

/// <summary>
/// One retrieved passage as the <c>search</c> tool returns it: where it is (document, source, chunk span, and
/// <paramref name="Pages"/> for a paged document such as a PDF: "p. 4"; null otherwise) and its text.
/// </summary>
internal sealed record McpPassage(int Rank, double Score, string Retriever, long ChunkId, string Document, string Source, string Title,
    IReadOnlyList<string> HeadingPath, int Start, int End, string Text, string? Pages)
{
    /// <summary>The passage of <paramref name="h"/>; <paramref name="source"/> replaces the stored source path (the server shows no paths).</summary>
    public static McpPassage From(SearchHit h, string? source = null) => new(h.Rank, h.Score, h.Retriever, h.Chunk.ChunkId, h.Chunk.DocumentId,
        source ?? h.Chunk.Source, h.Chunk.Title, h.Chunk.Chunk.HeadingPath, h.Chunk.Chunk.Start, h.Chunk.Chunk.End, h.Chunk.Chunk.Text, h.Chunk.Pages);
}

/// <summary>The <c>search</c> tool's result.</summary>
internal sealed record McpSearchResult(string Collection, string Query, string Mode, IReadOnlyList<McpPassage> Passages);

/// <summary>A numbered source given to the model, and whether the answer cites it.</summary>
internal sealed record McpSource(int Number, bool Cited, long ChunkId, string Document, string Source, string Title, int Start, int End, string Text, string? Pages);

/// <summary>One answer sentence with its citation check.</summary>
internal sealed record McpSentence(string Text, IReadOnlyList<int> Citations, IReadOnlyList<int> FabricatedCitations, double Support, bool Supported);

/// <summary>
/// The <c>ask</c> tool's result: the answer, its sentences with their citations, the cited passages and the other
/// sources the model was given (marked <c>cited: false</c>).
/// </summary>
internal sealed record McpAnswer(string Question, string Answer, string Mode, bool Abstained, IReadOnlyList<int> Citations,
    IReadOnlyList<McpSentence> Sentences, IReadOnlyList<McpSource> Sources)
{
    public static McpAnswer From(string question, GroundedAnswer a)
    {
        var cited = a.Sentences.SelectMany(s => s.Citations).Distinct().Order().ToList();
        return new McpAnswer(question, a.Text, a.Mode, a.Abstained, cited,
            [.. a.Sentences.Select(s => new McpSentence(s.Text, s.Citations, s.FabricatedCitations, s.Support, s.Supported))],
            [.. a.Sources.Select(s => new McpSource(s.Number, cited.Contains(s.Number), s.ChunkId, s.DocumentId, s.Source, s.Title, s.Start, s.End, s.Text, s.Pages))]);
    }

    /// <summary>The server's answer (<see cref="CollectionService"/>): sources are named by document id, no paths.</summary>
    public static McpAnswer From(AskResult a)
    {
        var cited = a.Sentences.SelectMany(s => s.Citations).Distinct().Order().ToList();
        return new McpAnswer(a.Question, a.Answer, a.Mode, a.Abstained, cited,
            [.. a.Sentences.Select(s => new McpSentence(s.Text, s.Citations, s.FabricatedCitations, s.Support, s.Supported))],
            [.. a.Sources.Select(s => new McpSource(s.Number, s.Cited, s.ChunkId, s.DocumentId, s.DocumentId, s.Title, s.Start, s.End, s.Text, s.Pages))]);
    }
}

/// <summary>Tool results in snake_case, the naming MCP tool schemas conventionally use.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(McpSearchResult))]
[JsonSerializable(typeof(McpAnswer))]
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
