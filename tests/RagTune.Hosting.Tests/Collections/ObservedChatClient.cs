using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace RagTune.Hosting.Tests.Collections;

/// <summary>
/// Passes every call to a real chat client unchanged and keeps what crossed the boundary: the options of the
/// last request and the usage the client reported for it.
/// </summary>
internal sealed class ObservedChatClient(IChatClient inner) : DelegatingChatClient(inner)
{
    public ChatOptions? LastOptions { get; private set; }

    public UsageDetails? LastUsage { get; private set; }

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Observe(options);
        var response = await base.GetResponseAsync(messages, options, cancellationToken);
        LastUsage = response.Usage;
        return response;
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Observe(options);
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            foreach (var content in update.Contents)
                if (content is UsageContent u) LastUsage = u.Details;
            yield return update;
        }
    }

    private void Observe(ChatOptions? options)
    {
        LastOptions = options;
        LastUsage = null;
    }
}
