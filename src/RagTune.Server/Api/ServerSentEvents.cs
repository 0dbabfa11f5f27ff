using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace RagTune.Server.Api;

/// <summary>
/// Writes a <c>text/event-stream</c> response (https://html.spec.whatwg.org/multipage/server-sent-events.html):
/// <c>event:</c>, <c>id:</c> and one <c>data:</c> line of JSON per event, flushed at once.
/// </summary>
internal static class ServerSentEvents
{
    public static void Start(HttpResponse response)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Reverse proxies (nginx) buffer responses unless told not to; events must arrive as they happen.
        response.Headers["X-Accel-Buffering"] = "no";
    }

    public static async Task WriteAsync<T>(HttpResponse response, string name, T payload, long? id, CancellationToken ct)
    {
        var text = new StringBuilder();
        text.Append("event: ").Append(name).Append('\n');
        if (id is { } i) text.Append("id: ").Append(i).Append('\n');
        // Serialised JSON holds no raw newlines, so one data line carries it.
        text.Append("data: ").Append(JsonSerializer.Serialize(payload, ApiJson.Options)).Append("\n\n");
        await response.WriteAsync(text.ToString(), ct).ConfigureAwait(false);
        await response.Body.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>A comment line: keeps idle connections (and proxies) from timing out.</summary>
    public static async Task KeepAliveAsync(HttpResponse response, CancellationToken ct)
    {
        await response.WriteAsync(": keep-alive\n\n", ct).ConfigureAwait(false);
        await response.Body.FlushAsync(ct).ConfigureAwait(false);
    }
}
