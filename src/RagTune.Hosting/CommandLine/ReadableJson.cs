using System.Text.Encodings.Web;
using System.Text.Json;

namespace RagTune.Hosting.CommandLine;

/// <summary>
/// JSON the command-line front ends write for people (<c>--json</c> output, saved files): printable characters as they are
/// (<c>"ft+rag"</c>, not <c>"ft\u002Brag"</c>). The default encoder escapes HTML-sensitive characters for embedding
/// in web pages; this JSON goes to terminals, pipes and files, never into HTML.
/// </summary>
public static class ReadableJson
{
    /// <summary>A copy of a source-generated context's <paramref name="generated"/> options with the relaxed encoder.</summary>
    public static JsonSerializerOptions Options(JsonSerializerOptions generated) =>
        new(generated) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
