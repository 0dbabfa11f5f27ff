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

/// <summary>Chat client returning scripted text; records the messages it was sent.</summary>
internal sealed class ScriptedChatClient(params string[] replies) : IChatClient
{
    private int _next;
    public List<IReadOnlyList<ChatMessage>> Requests { get; } = [];

    private string Next()
    {
        var r = replies[Math.Min(_next, replies.Length - 1)];
        _next++;
        return r;
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Requests.Add(messages.ToList());
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, Next())));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Requests.Add(messages.ToList());
        var text = Next();
        for (var i = 0; i < text.Length; i += 7)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, text.Substring(i, Math.Min(7, text.Length - i)));
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose() { }
}
