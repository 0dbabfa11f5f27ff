using System.Net;
using System.Text.Json;

namespace RagTune.Server.Tests.Api;

/// <summary>The server's JSON keeps printable characters as they are (<c>"ft+rag"</c>, not <c>"ft\u002Brag"</c>).</summary>
public sealed class ReadableJsonTests
{
    private const string Text = "C++ & <Rust>: the ft+rag arm answers \"quoted\" text about arms.\n";

    [Fact]
    public async Task Api_and_openai_responses_do_not_escape_plus_quotes_or_angle_brackets()
    {
        await using var api = await ApiServer.StartAsync(new ModelRegistry().AddChat("fake", new FakeChatClient()));
        await api.CreateAndIngestAsync("arms", "arms.txt", Text);

        var search = await api.PostJsonAsync("/api/collections/arms/search", new { query = "ft+rag arm" });
        var body = await search.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        Assert.Contains("C++ & <Rust>: the ft+rag arm answers \\\"quoted\\\" text", body);
        Assert.DoesNotContain("\\u00", body);
        Assert.Equal(Text.Trim(), JsonDocument.Parse(body).RootElement[0].GetProperty("text").GetString());

        var chat = await api.PostJsonAsync("/v1/chat/completions", new { model = "fake", messages = new[] { new { role = "user", content = "ft+rag <b>" } } });
        var completion = await chat.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Contains("You said: ft+rag <b>", completion);
        Assert.DoesNotContain("\\u00", completion);
    }
}
