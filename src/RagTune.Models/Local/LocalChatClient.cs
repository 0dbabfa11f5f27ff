using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using RagTune.Engine.Models;
using RagTune.Engine.Sampling;
using RagTune.Engine.Training;
using RagTune.Tokenizers.ChatTemplates;

namespace RagTune.Models.Local;

/// <summary>Settings of a <see cref="LocalChatClient"/>; defaults are documented per property.</summary>
public sealed class LocalChatClientOptions
{
    /// <summary>Path of a tokenizer file when the model file carries none (llama2.c checkpoints).</summary>
    public string? TokenizerPath { get; set; }

    /// <summary>KV-cache length in tokens; 0 (default) uses the model's context length, capped at 16,384.</summary>
    public int ContextSize { get; set; }

    /// <summary>Compute threads; 0 (default) uses one per processor.</summary>
    public int Threads { get; set; }

    /// <summary>Tokens generated when a request sets no <see cref="ChatOptions.MaxOutputTokens"/>; default 256.</summary>
    public int DefaultMaxTokens { get; set; } = 256;

    /// <summary>
    /// Requests generated at once, batched into one forward pass per step (continuous batching); each slot holds a KV
    /// cache of <see cref="ContextSize"/> tokens. Further requests wait in order. Default 1 (one at a time); at most 64.
    /// </summary>
    public int Slots { get; set; } = 1;

    /// <summary>The most <see cref="Slots"/> a client may have.</summary>
    public const int MaxSlots = 64;

    internal void Validate()
    {
        if (ContextSize < 0) throw new ArgumentOutOfRangeException(nameof(ContextSize), ContextSize, "ContextSize must be 0 (model default) or positive.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (one per processor) or positive.");
        if (DefaultMaxTokens < 1) throw new ArgumentOutOfRangeException(nameof(DefaultMaxTokens), DefaultMaxTokens, "DefaultMaxTokens must be positive.");
        if (Slots is < 1 or > MaxSlots) throw new ArgumentOutOfRangeException(nameof(Slots), Slots, $"Slots must be between 1 and {MaxSlots}.");
    }
}

/// <summary>
/// An <see cref="IChatClient"/> over RagTune's own engine: a local GGUF or llama2.c model, streamed token by
/// token. Messages are rendered with the model's chat template (or a documented fallback, see
/// docs/prompt-format.md). <see cref="LocalChatClientOptions.Slots"/> requests are generated at once, batched into
/// one forward pass per step (<see cref="BatchScheduler"/>); a request that continues an earlier conversation reuses
/// its cached prefix.
/// </summary>
/// <remarks>
/// One base can carry several named LoRA adapters (added with <c>AddAdapter</c> from RagTune.FineTuning), applied
/// beside the base weights without merging. A request picks one with <see cref="ChatOptions.AdditionalProperties"/>
/// key <see cref="AdapterProperty"/> (<c>"adapter"</c>) or a <see cref="ChatOptions.ModelId"/> of the form
/// <c>"{model}+{adapter}"</c>; without either it runs on the base alone. The requests batched together share one
/// adapter: a request for another one waits until those running have finished, and the switch starts the KV caches over.
/// </remarks>
public sealed class LocalChatClient : IChatClient
{
    private readonly LocalModel _model;
    private readonly InferenceSession _session;
    private readonly BatchScheduler _scheduler;
    private readonly LocalChatClientOptions _options;
    private readonly ChatClientMetadata _metadata;
    private readonly ChatTemplateSelection _template;
    private readonly ChatPromptEncoder _encoder;
    private readonly Dictionary<string, LoraDelta> _adapters = new(StringComparer.Ordinal);

    /// <summary>The <see cref="ChatOptions.AdditionalProperties"/> key naming the adapter a request runs with.</summary>
    public const string AdapterProperty = "adapter";

    /// <summary>Loads the model at <paramref name="modelPath"/> (GGUF, llama2.c .bin, or a Hugging Face folder).</summary>
    public LocalChatClient(string modelPath, LocalChatClientOptions? options = null)
        : this(LoadModel(modelPath, options), options)
    {
    }

    /// <summary>
    /// Serves an already loaded model (e.g. a base with a LoRA adapter, <see cref="LocalModel.Adapter"/>, which requests that
    /// name no other adapter run with); the client takes ownership.
    /// </summary>
    public LocalChatClient(LocalModel model, LocalChatClientOptions? options)
    {
        _options = options ?? new LocalChatClientOptions();
        _options.Validate();
        _model = model;
        try
        {
            _session = new InferenceSession(_model.Engine, new SessionOptions(_options.ContextSize, Threads: _options.Threads, Slots: _options.Slots));
        }
        catch
        {
            _model.Dispose();
            throw;
        }
        _session.Adapter = _model.Adapter;
        _scheduler = new BatchScheduler(_model, _session);
        _template = TokenizerLoader.ResolveChatTemplate(_model.Engine, _model.Tokenizer, _options.TokenizerPath);
        _encoder = new ChatPromptEncoder(_model.Tokenizer);
        _metadata = new ChatClientMetadata("ragtune-local", new Uri(Path.GetFullPath(_model.Engine.Path)), _model.Name);
    }

    private static LocalModel LoadModel(string modelPath, LocalChatClientOptions? options)
    {
        (options ?? new LocalChatClientOptions()).Validate();
        return LocalModel.Load(modelPath, options?.TokenizerPath);
    }

    /// <summary>Names of the adapters a request can select.</summary>
    public IReadOnlyList<string> AdapterNames
    {
        get
        {
            lock (_adapters) return [.. _adapters.Keys];
        }
    }

    /// <summary>Hyperparameters of the base (what an adapter must fit).</summary>
    public ModelConfig ModelConfig => _model.Engine.Config;

    /// <summary>
    /// Adds <paramref name="adapter"/> under <paramref name="name"/>, applied beside the base when a request selects it.
    /// Its values are copied: later changes to <paramref name="adapter"/> do not reach this client.
    /// </summary>
    public void AddAdapter(string name, LoraAdapter adapter)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        if (string.IsNullOrWhiteSpace(name) || name.Contains('+', StringComparison.Ordinal))
            throw new ArgumentException($"Adapter name '{name}' is not usable: give a non-empty name without '+' (requests select it as \"{_model.Name}+name\").", nameof(name));
        var delta = new LoraDelta(adapter, _model.Engine.Config);
        lock (_adapters)
        {
            if (_adapters.ContainsKey(name))
            {
                delta.Dispose();
                throw new ArgumentException($"An adapter named '{name}' is already loaded; pick another name.", nameof(name));
            }
            _adapters.Add(name, delta);
        }
    }

    /// <summary>Where the chat template came from (the model's own, or a named RagTune fallback).</summary>
    public string TemplateSource => _template.Template.Source;

    /// <summary>Why a fallback template is used (the model has none, or it cannot be rendered); null when the model's own is used.</summary>
    public string? TemplateWarning => _template.Warning;

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        var (prompt, settings) = Prepare(messages, options);
        var (modelId, adapter) = SelectAdapter(options);
        var stats = await _scheduler.GenerateAsync(prompt, settings, adapter, s => text.Append(s), cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
        {
            ModelId = modelId,
            FinishReason = Map(stats.Finish),
            Usage = Usage(stats),
            CreatedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // A consumer that stops reading early must not leave its request generating in the batch.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<GenerationStats>? work = null;
        try
        {
            var (prompt, settings) = Prepare(messages, options);
            var (modelId, adapter) = SelectAdapter(options);
            var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            var responseId = Guid.NewGuid().ToString("N");
            work = _scheduler.GenerateAsync(prompt, settings, adapter, s => channel.Writer.TryWrite(s), stop.Token);
            _ = work.ContinueWith(_ => channel.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

            await foreach (var piece in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                yield return new ChatResponseUpdate(ChatRole.Assistant, piece) { ResponseId = responseId, ModelId = modelId };

            var stats = await work.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                ResponseId = responseId,
                ModelId = modelId,
                FinishReason = Map(stats.Finish),
                Contents = [new UsageContent(Usage(stats))],
            };
        }
        finally
        {
            if (work is { IsCompleted: false })
            {
                await stop.CancelAsync().ConfigureAwait(false);
                try { await work.ConfigureAwait(false); }
                catch (OperationCanceledException) { }
            }
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _scheduler.Dispose();
        _session.Dispose();
        lock (_adapters)
        {
            foreach (var delta in _adapters.Values) delta.Dispose();
            _adapters.Clear();
        }
        _model.Dispose();
    }

    /// <summary>The stop string that ends an assistant turn in the plain fallback format (it has no end-of-turn token).</summary>
    internal const string PlainTurnStop = "\nUser:";

    /// <summary>The token ids a request with <paramref name="messages"/> prompts the model with (template rendered, generation prompt added).</summary>
    internal List<int> EncodePrompt(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = messages.Select(m => (m.Role.Value, m.Text)).ToList();
        string text;
        try
        {
            text = _template.Template.RenderFoldingSystem(turns, addGenerationPrompt: true, _encoder.BosText, _encoder.EosText);
        }
        catch (ChatTemplateException e) when (e.RaisedByTemplate)
        {
            throw new ArgumentException($"The model's chat template rejected the conversation: {e.Message}", nameof(messages), e);
        }
        return _encoder.Encode(text);
    }

    private (IReadOnlyList<int> Prompt, GenerationSettings Settings) Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var prompt = EncodePrompt(messages);
        var stops = new List<string>();
        if (ReferenceEquals(_template.Template, ChatTemplate.Plain)) stops.Add(PlainTurnStop);
        if (options?.StopSequences is { } extra) stops.AddRange(extra);
        var sampler = new SamplerOptions(
            Temperature: options?.Temperature ?? 0.8f,
            TopK: options?.TopK ?? 40,
            TopP: options?.TopP ?? 0.95f,
            MinP: options?.AdditionalProperties?.TryGetValue("min_p", out float minP) == true ? minP : 0.05f,
            RepeatPenalty: options?.AdditionalProperties?.TryGetValue("repeat_penalty", out float rp) == true ? rp : 1.0f,
            Seed: options?.Seed is { } seed ? unchecked((ulong)seed) : (ulong)Random.Shared.NextInt64());
        return (prompt, new GenerationSettings(sampler, options?.MaxOutputTokens ?? _options.DefaultMaxTokens, stops, StopTokens: _encoder.TurnEndIds));
    }

    /// <summary>The adapter <paramref name="options"/> names (the model's own when none), and the model id to report.</summary>
    private (string ModelId, LoraDelta? Adapter) SelectAdapter(ChatOptions? options)
    {
        string? name = null;
        if (options?.AdditionalProperties?.TryGetValue(AdapterProperty, out object? value) == true && value is not null)
            name = value as string ?? throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{AdapterProperty}\"] must be an adapter name (a string), not {value.GetType().Name}.", nameof(options));
        else if (options?.ModelId is { } id && id.LastIndexOf('+') is var plus and >= 0)
            name = id[(plus + 1)..];
        if (string.IsNullOrEmpty(name))
            return (_model.Name, _model.Adapter); // the adapter the model was opened with (--adapter), if any
        LoraDelta? delta;
        lock (_adapters) _adapters.TryGetValue(name, out delta);
        if (delta is null)
        {
            var known = AdapterNames;
            throw new ArgumentException(known.Count == 0
                ? $"The request asks for adapter '{name}', but no adapter is loaded on '{_model.Name}'. Load one with AddAdapter, or send no adapter."
                : $"The request asks for adapter '{name}', but '{_model.Name}' has only: {string.Join(", ", known)}.", nameof(options));
        }
        return (_model.Name + "+" + name, delta);
    }

    private static ChatFinishReason Map(FinishReason r) => r switch
    {
        FinishReason.Stop or FinishReason.EndOfSequence => ChatFinishReason.Stop,
        FinishReason.Length or FinishReason.ContextFull => ChatFinishReason.Length,
        _ => ChatFinishReason.Stop,
    };

    private static UsageDetails Usage(GenerationStats s) => new()
    {
        InputTokenCount = s.PromptTokens,
        OutputTokenCount = s.GeneratedTokens,
        TotalTokenCount = s.PromptTokens + s.GeneratedTokens,
    };
}
