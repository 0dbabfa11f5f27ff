using System.Text;
using System.Text.Json;

namespace RagTune.Server.Tests.Api;

/// <summary>Reads server-sent events from a response, as a browser would: blocks of lines separated by a blank line.</summary>
internal sealed class SseStream(HttpResponseMessage response) : IDisposable
{
    private StreamReader? _reader;

    public async Task<(string Name, JsonElement Data)?> NextAsync()
    {
        _reader ??= new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
        string name = "message";
        var data = new StringBuilder();
        while (await _reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0) return (name, JsonDocument.Parse(data.ToString()).RootElement.Clone());
                name = "message";
                continue;
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line.AsSpan(6));
        }
        return null;
    }

    public async Task<List<(string Name, JsonElement Data)>> ToEndAsync()
    {
        var all = new List<(string, JsonElement)>();
        while (await NextAsync() is { } e) all.Add(e);
        return all;
    }

    public void Dispose()
    {
        _reader?.Dispose();
        response.Dispose();
    }
}
