using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.AI;
using RagTune.FineTuning.Adapters;
using RagTune.Hosting.Middleware;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Middleware;

/// <summary>Our clients in Microsoft.Extensions.AI's own middleware: GenAI spans, the engine behind it, the response cache.</summary>
public sealed class ClientMiddlewareTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    // A source name per test, so parallel tests never see each other's spans.
    private static (ActivityListener Listener, ConcurrentQueue<Activity> Spans, string Source) Listen()
    {
        var name = "RagTune.Tests." + Guid.NewGuid().ToString("N");
        var spans = new ConcurrentQueue<Activity>();
        var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return (listener, spans, name);
    }

    [Fact]
    public async Task The_engine_s_calls_become_gen_ai_spans_named_chat_model()
    {
        var (listener, spans, source) = Listen();
        using var _ = listener;
        using var client = ClientMiddleware.Chat(new LocalChatClient(Stories, new LocalChatClientOptions { Threads = 1, ContextSize = 128 }), new ClientMiddlewareOptions { SourceName = source });
        var options = new ChatOptions { MaxOutputTokens = 6, Temperature = 0 };

        var response = await client.GetResponseAsync("Once upon a time", options);
        var text = new System.Text.StringBuilder();
        await foreach (var u in client.GetStreamingResponseAsync("Once upon a time", options)) text.Append(u.Text);

        Assert.Equal(response.Text, text.ToString());
        Assert.Equal(2, spans.Count);
        foreach (var span in spans)
        {
            Assert.Equal("chat stories260K", span.DisplayName);
            Assert.Equal("chat", span.GetTagItem("gen_ai.operation.name"));
            Assert.Equal("stories260K", span.GetTagItem("gen_ai.request.model"));
            Assert.Equal(6, Convert.ToInt32(span.GetTagItem("gen_ai.request.max_tokens"), System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal((int)response.Usage!.OutputTokenCount!, Convert.ToInt32(span.GetTagItem("gen_ai.usage.output_tokens"), System.Globalization.CultureInfo.InvariantCulture));
            Assert.Null(span.GetTagItem("gen_ai.input.messages")); // prompts stay out of spans unless SensitiveData
        }
        Assert.NotNull(spans.Last().GetTagItem("gen_ai.response.time_to_first_chunk"));
    }

    [Fact]
    public async Task Adapters_are_served_through_the_wrappers_by_GetService()
    {
        using var dir = new TempDir();
        var adapterDir = dir.File("adapter");
        var model = LocalModel.Load(Stories);
        using (model)
        {
            var lora = new RagTune.Engine.Training.LoraAdapter(model.Engine.Config, new RagTune.Engine.Training.LoraConfig(4, 8, 0), seed: 1);
            var rng = new Random(5);
            foreach (var p in lora.Parameters)
                for (int i = 0; i < p.Values.Length; i++) p.Values[i] = (float)(rng.NextDouble() - 0.5) * 0.5f;
            PeftAdapter.Save(lora, model.Engine.Config, adapterDir, "stories260K");
        }
        using var client = ClientMiddleware.Chat(new LocalChatClient(Stories, new LocalChatClientOptions { Threads = 1, ContextSize = 128 }), new ClientMiddlewareOptions());
        var local = client.GetService<LocalChatClient>();
        Assert.NotNull(local);
        Assert.IsNotType<LocalChatClient>(client);
        local.AddAdapter("noisy", adapterDir);
        var options = new ChatOptions { MaxOutputTokens = 8, Temperature = 0 };
        var plain = await client.GetResponseAsync("Once upon a time", options);
        var adapted = await client.GetResponseAsync("Once upon a time", new ChatOptions { MaxOutputTokens = 8, Temperature = 0, ModelId = "stories260K+noisy" });
        Assert.NotEqual(plain.Text, adapted.Text);
    }

    [Fact]
    public async Task A_cache_directory_replays_answers_and_embeddings_keyed_by_the_model()
    {
        using var dir = new TempDir();
        var calls = 0;
        IChatClient Counting() => new CountingChatClient(() => Interlocked.Increment(ref calls));
        var first = new ClientMiddlewareOptions { CacheDirectory = dir.Path, CacheKey = ["model", "aaa"] };
        using (var a = ClientMiddleware.Chat(Counting(), first))
        {
            Assert.Equal("answer 1", (await a.GetResponseAsync("q")).Text);
            Assert.Equal("answer 1", (await a.GetResponseAsync("q")).Text);   // replayed
            Assert.Equal("answer 2", (await a.GetResponseAsync("another")).Text);
        }
        Assert.Equal(2, calls);
        using (var again = ClientMiddleware.Chat(Counting(), first))          // a later run, same folder
            Assert.Equal("answer 1", (await again.GetResponseAsync("q")).Text);
        Assert.Equal(2, calls);
        using (var other = ClientMiddleware.Chat(Counting(), first with { CacheKey = ["model", "bbb"] }))
            Assert.Equal("answer 3", (await other.GetResponseAsync("q")).Text); // another model never shares entries
        Assert.Equal(3, calls);
        Assert.NotEmpty(Directory.GetFiles(dir.Path, "*.bin"));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));

        int embedded = 0;
        using var embedder = ClientMiddleware.Embeddings(new CountingEmbedder(() => Interlocked.Increment(ref embedded)), first);
        var v1 = await embedder.GenerateAsync(["text"]);
        var v2 = await embedder.GenerateAsync(["text"]);
        Assert.Equal(v1[0].Vector.ToArray(), v2[0].Vector.ToArray());
        Assert.Equal(1, embedded);
    }

    [Fact]
    public void A_cache_without_a_model_identity_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => ClientMiddleware.Chat(new CountingChatClient(() => 0), new ClientMiddlewareOptions { CacheDirectory = "somewhere" }));
        Assert.Contains("CacheKey", e.Message);
    }

    [Fact]
    public async Task Embedding_calls_become_gen_ai_spans()
    {
        var (listener, spans, source) = Listen();
        using var _ = listener;
        using var embedder = ClientMiddleware.Embeddings(new CountingEmbedder(() => 0), new ClientMiddlewareOptions { SourceName = source });
        await embedder.GenerateAsync(["a", "b"]);
        var span = Assert.Single(spans);
        Assert.Equal("embeddings counting-embedder", span.DisplayName);
        Assert.Equal("embeddings", span.GetTagItem("gen_ai.operation.name"));
    }

    private sealed class CountingChatClient(Func<int> call) : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, $"answer {call()}")));

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, $"answer {call()}");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    private sealed class CountingEmbedder(Func<int> call) : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            int n = call();
            return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(v => new Embedding<float>(new float[] { v.Length, n }))));
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("test", defaultModelId: "counting-embedder") : null;

        public void Dispose()
        {
        }
    }
}
