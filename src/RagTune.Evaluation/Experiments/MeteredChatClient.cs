using System.Diagnostics;
using Microsoft.Extensions.AI;

namespace RagTune.Evaluation.Experiments;

/// <summary>What one model call cost: time to the first text (prompt processing), the rest (generation), and tokens.</summary>
internal sealed record CallMeter(double PromptMs, double GenerationMs, int PromptTokens, int CompletionTokens)
{
    public static CallMeter None { get; } = new(0, 0, 0, 0);
}

/// <summary>
/// Measures each call through the streaming API: the time until the first text arrives is prompt processing (plus the
/// first token, the only split an <see cref="IChatClient"/> offers for any backend), the rest is generation; token
/// counts come from the usage the client reports. <see cref="Last"/> holds the most recent call's figures.
/// </summary>
internal sealed class MeteredChatClient(IChatClient inner) : DelegatingChatClient(inner)
{
    public CallMeter Last { get; private set; } = CallMeter.None;

    /// <summary>The inner client belongs to the caller (the experiment's models), so disposing the meter leaves it open.</summary>
    protected override void Dispose(bool disposing)
    {
    }

    /// <summary>Forgets the last call (so a call that never reaches the model reads as zero).</summary>
    public void Reset() => Last = CallMeter.None;

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        var sw = Stopwatch.StartNew();
        double first = -1;
        await foreach (var u in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            if (first < 0 && !string.IsNullOrEmpty(u.Text)) first = sw.Elapsed.TotalMilliseconds;
            updates.Add(u);
        }
        double total = sw.Elapsed.TotalMilliseconds;
        if (first < 0) first = total;
        var response = updates.ToChatResponse();
        var usage = response.Usage;
        Last = new CallMeter(first, total - first, (int)(usage?.InputTokenCount ?? 0), (int)(usage?.OutputTokenCount ?? 0));
        return response;
    }
}
