using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace RagTune.Server.Tests;

/// <summary>
/// A hand-written chat client: answers "You said: &lt;last user text&gt;" word by word, records the options it
/// was given, and can be held at the start of a request until <see cref="Release"/> (for concurrency tests).
/// </summary>
internal sealed class FakeChatClient : IChatClient
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _entered;

    public FakeChatClient(bool hold = false)
    {
        if (!hold) _release.SetResult();
    }

    public ChatOptions? LastOptions { get; private set; }

    public int Entered => Volatile.Read(ref _entered);

    public void Release() => _release.TrySetResult();

    public static string Answer(IEnumerable<ChatMessage> messages) => "You said: " + messages.Last(m => m.Role == ChatRole.User).Text;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        await EnterAsync(options, cancellationToken);
        var (text, finish) = Limit(Answer(messages), options);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text))
        {
            FinishReason = finish,
            Usage = new UsageDetails { InputTokenCount = 7, OutputTokenCount = Words(text).Count, TotalTokenCount = 7 + Words(text).Count },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await EnterAsync(options, cancellationToken);
        var (text, finish) = Limit(Answer(messages), options);
        var words = Words(text);
        foreach (var w in words)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, w);
        }
        yield return new ChatResponseUpdate
        {
            FinishReason = finish,
            Contents = [new UsageContent(new UsageDetails { InputTokenCount = 7, OutputTokenCount = words.Count, TotalTokenCount = 7 + words.Count })],
        };
    }

    private async Task EnterAsync(ChatOptions? options, CancellationToken ct)
    {
        LastOptions = options;
        Interlocked.Increment(ref _entered);
        await _release.Task.WaitAsync(ct);
    }

    // One "token" per word (with its leading space), cut at max tokens or the first stop string.
    private static (string Text, ChatFinishReason Finish) Limit(string text, ChatOptions? options)
    {
        foreach (var stop in options?.StopSequences ?? [])
            if (text.IndexOf(stop, StringComparison.Ordinal) is var i and >= 0) text = text[..i];
        var words = Words(text);
        if (options?.MaxOutputTokens is { } max && words.Count > max) return (string.Concat(words.Take(max)), ChatFinishReason.Length);
        return (text, ChatFinishReason.Stop);
    }

    private static List<string> Words(string text)
    {
        var list = new List<string>();
        int start = 0;
        for (int i = 1; i <= text.Length; i++)
            if (i == text.Length || text[i] == ' ') { list.Add(text[start..i]); start = i; }
        return list;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() { }
}

/// <summary>A hand-written embedding generator: a 3-dimensional vector of (length, vowels, spaces) per input.</summary>
internal sealed class FakeEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = values.Select(v => new Embedding<float>(new float[] { v.Length, v.Count("aeiou".Contains), v.Count(c => c == ' ') })).ToList();
        return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(list) { Usage = new UsageDetails { InputTokenCount = list.Count * 2 } });
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose() { }
}
