using Microsoft.Extensions.AI;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Local;

/// <summary>
/// Continuous batching in <see cref="LocalChatClient"/> (issue 19), on the real stories260K model: requests served
/// together give the text each gives alone, join and leave the batch at any step, and cancel on their own.
/// </summary>
public sealed class BatchSchedulerTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static readonly string[] s_prompts =
    [
        "Once upon a time",
        "Lily and her dog went to the park. They saw a big red ball and",
        "Tom",
        "One day, a little bird flew over the tall green trees and the blue lake and the old house, looking for",
        "The sun was hot",
        "Sam had a toy car.",
    ];

    [Fact]
    public async Task Requests_batched_together_give_the_greedy_text_each_gives_alone()
    {
        var alone = new List<string>();
        var counts = new List<long?>();
        using (var one = new LocalChatClient(Stories, new LocalChatClientOptions { ContextSize = 256, Threads = 2 }))
            foreach (var (p, i) in s_prompts.Select((p, i) => (p, i)))
            {
                var r = await one.GetResponseAsync([new ChatMessage(ChatRole.User, p)], Greedy(i));
                alone.Add(r.Text);
                counts.Add(r.Usage!.OutputTokenCount);
            }

        // Four slots for six requests: two wait, then join as others leave (lengths differ, so they leave at different steps).
        using var batched = new LocalChatClient(Stories, new LocalChatClientOptions { ContextSize = 256, Threads = 2, Slots = 4 });
        var together = await Task.WhenAll(s_prompts.Select((p, i) => batched.GetResponseAsync([new ChatMessage(ChatRole.User, p)], Greedy(i))));
        Assert.Equal(alone, together.Select(r => r.Text));
        Assert.Equal(counts, together.Select(r => r.Usage!.OutputTokenCount));
        Assert.All(alone, t => Assert.False(string.IsNullOrWhiteSpace(t)));

        // Streaming requests batched together stream the same text.
        var streamed = await Task.WhenAll(s_prompts.Select(async (p, i) =>
        {
            var text = new System.Text.StringBuilder();
            await foreach (var u in batched.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, p)], Greedy(i))) text.Append(u.Text);
            return text.ToString();
        }));
        Assert.Equal(alone, streamed);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_prompt_longer_than_the_context_is_refused_by_type_with_both_sizes(int slots)
    {
        // Front ends (the server's context_length_exceeded, the CLI, MCP) match this public type, never the engine's.
        using var client = new LocalChatClient(Stories, new LocalChatClientOptions { ContextSize = 32, Threads = 2, Slots = slots });
        var prompt = string.Join(' ', Enumerable.Repeat(s_prompts[3], 4));
        var e = await Assert.ThrowsAsync<ContextLengthExceededException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], Greedy(0)));
        Assert.Equal(32, e.ContextTokens);
        Assert.True(e.PromptTokens > 32, $"prompt tokens {e.PromptTokens}");
        Assert.Contains("context holds 32", e.Message);
        // The client still serves a prompt that fits.
        Assert.False(string.IsNullOrWhiteSpace((await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Tom")], Greedy(0))).Text));
    }

    [Fact]
    public async Task A_cancelled_request_leaves_the_batch_and_the_others_finish_unchanged()
    {
        using var client = new LocalChatClient(Stories, new LocalChatClientOptions { ContextSize = 256, Threads = 2, Slots = 2 });
        var expected = (await client.GetResponseAsync([new ChatMessage(ChatRole.User, s_prompts[0])], Greedy(0))).Text;

        using var cancel = new CancellationTokenSource();
        var long1 = new ChatOptions { Temperature = 0, MaxOutputTokens = 200 };
        var cancelled = Task.Run(async () =>
        {
            int pieces = 0;
            await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, s_prompts[1])], long1, cancel.Token))
                if (++pieces == 3) await cancel.CancelAsync();
        });
        var other = client.GetResponseAsync([new ChatMessage(ChatRole.User, s_prompts[0])], Greedy(0));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(expected, (await other).Text);
        // The freed slot serves the next request.
        Assert.Equal(expected, (await client.GetResponseAsync([new ChatMessage(ChatRole.User, s_prompts[0])], Greedy(0))).Text);
    }

    [Fact]
    public void Slots_are_validated()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LocalChatClient(Stories, new LocalChatClientOptions { Slots = 0 }));
        Assert.Contains("Slots must be between 1 and 64", e.Message);
    }

    private static int MaxTokens(int i) => 6 + 5 * i;

    private static ChatOptions Greedy(int i) => new() { Temperature = 0, MaxOutputTokens = MaxTokens(i), AdditionalProperties = new() { ["repeat_penalty"] = 1.0f } };
}
