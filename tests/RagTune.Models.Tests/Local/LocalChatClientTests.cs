using Microsoft.Extensions.AI;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Local;

public sealed class LocalChatClientTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static LocalChatClient Client() => new(Stories, new LocalChatClientOptions { ContextSize = 256, Threads = 2 });

    [Fact]
    public async Task A_response_carries_text_usage_and_finish_reason()
    {
        using var client = Client();
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Tell me a story.")],
            new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        Assert.False(string.IsNullOrWhiteSpace(response.Text));
        Assert.NotNull(response.Usage);
        Assert.True(response.Usage!.InputTokenCount > 5);
        Assert.InRange(response.Usage.OutputTokenCount ?? 0, 1, 12);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.NotNull(response.FinishReason);
        Assert.Equal("stories260K", response.ModelId);
    }

    [Fact]
    public async Task Streaming_equals_the_non_streaming_answer_for_the_same_seed()
    {
        using var client = Client();
        var messages = new[] { new ChatMessage(ChatRole.System, "Stories for children."), new ChatMessage(ChatRole.User, "Once upon a time") };
        var options = new ChatOptions { Temperature = 0.9f, TopP = 0.9f, Seed = 11, MaxOutputTokens = 30 };
        var whole = await client.GetResponseAsync(messages, options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(messages, options)) updates.Add(u);
        Assert.True(updates.Count > 2, "streaming should deliver several pieces");
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        var usage = updates.SelectMany(u => u.Contents).OfType<UsageContent>().Single();
        Assert.Equal(whole.Usage!.OutputTokenCount, usage.Details.OutputTokenCount);
        Assert.NotNull(updates[^1].FinishReason);
    }

    [Fact]
    public async Task Max_tokens_limits_the_answer_and_reports_length()
    {
        using var client = Client();
        var r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Temperature = 0, MaxOutputTokens = 3 });
        Assert.Equal(3, r.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, r.FinishReason);
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_answer_before_it()
    {
        using var client = Client();
        var free = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Temperature = 0, MaxOutputTokens = 40 });
        // Stop at the second word the model would have produced anyway.
        var words = free.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 3, free.Text);
        var stop = words[1];
        var r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")],
            new ChatOptions { Temperature = 0, MaxOutputTokens = 40, StopSequences = [stop] });
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], r.Text);
        Assert.Equal(ChatFinishReason.Stop, r.FinishReason);
    }

    [Fact]
    public async Task Cancellation_stops_generation_and_the_client_stays_usable()
    {
        using var client = Client();
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Hi")],
                               new ChatOptions { Temperature = 0, MaxOutputTokens = 200 }, cts.Token))
                if (++seen == 2) await cts.CancelAsync();
        });
        var after = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Temperature = 0, MaxOutputTokens = 5 });
        Assert.Equal(5, after.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task A_consumer_that_stops_early_releases_the_session()
    {
        using var client = Client();
        await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { MaxOutputTokens = 200 }))
            break;
        var r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
        Assert.Equal(4, r.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task A_follow_up_turn_reuses_the_cached_conversation_and_matches_a_fresh_client()
    {
        var turn1 = new List<ChatMessage> { new(ChatRole.User, "Tell me about Lily.") };
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };
        using var client = Client();
        var a = await client.GetResponseAsync(turn1, options);
        var turn2 = new List<ChatMessage>(turn1) { new(ChatRole.Assistant, a.Text), new(ChatRole.User, "And then?") };
        var b = await client.GetResponseAsync(turn2, options);

        using var fresh = Client();
        var c = await fresh.GetResponseAsync(turn2, options);
        Assert.Equal(c.Text, b.Text);
    }

    [Fact]
    public void Metadata_is_exposed_through_GetService()
    {
        using var client = Client();
        var meta = client.GetService<ChatClientMetadata>();
        Assert.Equal("ragtune-local", meta!.ProviderName);
        Assert.Equal("stories260K", meta.DefaultModelId);
        Assert.Same(client, client.GetService<LocalChatClient>());
        Assert.Null(client.GetService<string>());
    }

    [Fact]
    public void A_model_without_a_template_uses_the_documented_plain_fallback()
    {
        using var client = Client();
        Assert.Equal(RagTune.Tokenizers.ChatTemplates.ChatTemplate.Plain.Source, client.TemplateSource);
        Assert.NotNull(client.TemplateWarning);
        var text = RagTune.Tokenizers.ChatTemplates.ChatTemplate.Plain.Render(
            [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."), ("user", "Bye")], addGenerationPrompt: true, "<s>", "</s>");
        Assert.Equal("System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:", text);
    }

    [Fact]
    public void Bad_options_are_refused_before_loading()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LocalChatClient(Stories, new LocalChatClientOptions { Threads = -1 }));
        Assert.Throws<FileNotFoundException>(() => new LocalChatClient("/nonexistent/model.gguf"));
    }
}
