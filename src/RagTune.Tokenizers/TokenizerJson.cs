using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace RagTune.Tokenizers;

/// <summary>
/// Reading a Hugging Face tokenizer.json: the bytes are checked to be UTF-8 before parsing (System.Text.Json only
/// notices bad UTF-8 inside a string when the string is read, as an <see cref="InvalidOperationException"/>), and
/// fields are read by type with errors that name the field, what it holds and what it must be.
/// </summary>
internal static class TokenizerJson
{
    /// <summary>The parsed file; <paramref name="what"/> says what the file should be ("a Hugging Face tokenizer.json").</summary>
    public static JsonDocument Parse(string path, string what)
    {
        var bytes = File.ReadAllBytes(path);
        if (!Utf8.IsValid(bytes))
            throw new TokenizerFormatException(path, FirstInvalidUtf8(bytes), $"not valid UTF-8; {what} was expected (re-download or re-save the file as UTF-8).");
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(path, null, $"not valid JSON ({e.Message}); {what} was expected.", e);
        }
    }

    /// <summary>A whole number in the int range.</summary>
    public static int Int(JsonElement v, string field, string source) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw WrongType(v, field, source, "a whole number");

    /// <summary>A string.</summary>
    public static string Text(JsonElement v, string field, string source) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw WrongType(v, field, source, "a string");

    /// <summary>Property <paramref name="key"/> of an object, which must be present.</summary>
    public static JsonElement Required(JsonElement e, string key, string field, string source) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) ? v
        : throw new TokenizerFormatException(source, null, e.ValueKind == JsonValueKind.Object ? $"{field} is missing." : $"{field[..Math.Max(0, field.LastIndexOf('.'))]} is {Describe(e)}; it must be an object.");

    public static TokenizerFormatException WrongType(JsonElement v, string field, string source, string expected) =>
        new(source, null, $"{field} is {Describe(v)}; it must be {expected}.");

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.Null => "null",
        _ => $"{v.ValueKind.ToString().ToLowerInvariant()} {Short(v.GetRawText())}",
    };

    private static string Short(string raw) => raw.Length <= 40 ? raw : raw[..40] + "…";

    private static long FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        long offset = 0;
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out _, out int used) != System.Buffers.OperationStatus.Done) return offset;
            bytes = bytes[used..];
            offset += used;
        }
        return offset;
    }
}
