using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using RagTune.Rag.Text;

namespace RagTune.Rag.Tests.Fakes;

/// <summary>Deterministic hashing embedder: each content term adds ±1 to a hashed dimension (FNV-1a), then L2-normalised.</summary>
internal sealed class HashingEmbedder(string modelId = "hash-64", int dimensions = 64) : IEmbeddingGenerator<string, Embedding<float>>
{
    public int Calls { get; private set; }
    public List<int> BatchSizes { get; } = [];

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        Calls++;
        var list = values.ToList();
        BatchSizes.Add(list.Count);
        var result = new GeneratedEmbeddings<Embedding<float>>(list.Select(v => new Embedding<float>(Vector(v)) { ModelId = modelId }));
        return Task.FromResult(result);
    }

    public float[] Vector(string text)
    {
        var v = new float[dimensions];
        foreach (var t in Terms.Content(text))
        {
            uint h = 2166136261;
            foreach (var c in t) h = (h ^ c) * 16777619;
            v[h % (uint)dimensions] += (h & 0x80000000) != 0 ? 1 : -1;
        }
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        if (norm > 0) for (var i = 0; i < v.Length; i++) v[i] /= norm;
        return v;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("hash", null, modelId, dimensions) : null;

    public void Dispose() { }
}

/// <summary>
/// Chat client returning scripted text as a chat client would: one token per word (with its leading space), cut at
/// the first of the request's stop sequences (finish Stop) or at its max tokens (finish Length). Records the
/// messages and options it was sent; reports usage with one input token per word of the messages.
/// </summary>
internal sealed class ScriptedChatClient(params string[] replies) : IChatClient
{
    private int _next;
    public List<IReadOnlyList<ChatMessage>> Requests { get; } = [];
    public List<ChatOptions?> Options { get; } = [];

    public static int InputTokens(IEnumerable<ChatMessage> messages) =>
        messages.Sum(m => m.Text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length);

    private (List<string> Tokens, ChatFinishReason Finish, UsageDetails Usage) Next(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        Requests.Add(messages.ToList());
        Options.Add(options);
        var text = replies[Math.Min(_next, replies.Length - 1)];
        _next++;
        foreach (var stop in options?.StopSequences ?? [])
            if (text.IndexOf(stop, StringComparison.Ordinal) is var i and >= 0) text = text[..i];
        var tokens = new List<string>();
        for (int start = 0, i = 1; i <= text.Length; i++)
            if (i == text.Length || text[i] == ' ') { tokens.Add(text[start..i]); start = i; }
        var finish = ChatFinishReason.Stop;
        if (options?.MaxOutputTokens is { } max && tokens.Count > max) { tokens.RemoveRange(max, tokens.Count - max); finish = ChatFinishReason.Length; }
        int input = InputTokens(messages);
        return (tokens, finish, new UsageDetails { InputTokenCount = input, OutputTokenCount = tokens.Count, TotalTokenCount = input + tokens.Count });
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (tokens, finish, usage) = Next(messages, options);
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, string.Concat(tokens))) { Usage = usage, FinishReason = finish });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (tokens, finish, usage) = Next(messages, options);
        foreach (var token in tokens)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, token);
        }
        yield return new ChatResponseUpdate { FinishReason = finish, Contents = [new UsageContent(usage)] };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose() { }
}
