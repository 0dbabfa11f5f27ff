using Microsoft.Extensions.AI;
using RagTune.Hosting;
using RagTune.Hosting.Middleware;
using RagTune.Hosting.Models;
using RagTune.Hosting.Tuning;
using RagTune.Models.Local;

namespace RagTune.Server;

/// <summary>
/// The models a server answers for, by id: chat clients and (optionally) embedding generators. The server
/// reaches models only through these Microsoft.Extensions.AI interfaces; the registry owns and disposes them.
/// </summary>
public sealed class ModelRegistry : IDisposable
{
    private readonly Dictionary<string, IChatClient> _chat = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IEmbeddingGenerator<string, Embedding<float>>> _embedding = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    // "{base}+{adapter}" → base id: the base's client picks the adapter from ChatOptions.ModelId. Adapters may be
    // added while requests read it (a fine-tuning job's adapter served at run time), so it is read and written under a lock.
    private readonly Dictionary<string, string> _adapterIds = new(StringComparer.Ordinal);

    /// <summary>
    /// Serves <paramref name="client"/> for chat completions under <paramref name="id"/>; <paramref name="modelPath"/>,
    /// the model's file, makes it a base for fine-tuning jobs.
    /// </summary>
    public ModelRegistry AddChat(string id, IChatClient client, string? modelPath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        ArgumentNullException.ThrowIfNull(client);
        if (!_chat.TryAdd(id, client)) throw new ArgumentException($"Two models share the id '{id}'; rename one of the files.", nameof(id));
        if (modelPath != null) _files[id] = Path.GetFullPath(modelPath);
        return this;
    }

    /// <summary>
    /// Serves the adapter <paramref name="name"/>, already loaded on the chat model <paramref name="baseId"/>, as the
    /// model id <c>{baseId}+{name}</c>.
    /// </summary>
    public ModelRegistry AddAdapterId(string baseId, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!_chat.ContainsKey(baseId)) throw new ArgumentException($"No chat model has the id '{baseId}'.", nameof(baseId));
        var id = baseId + "+" + name;
        lock (_adapterIds)
            if (_chat.ContainsKey(id) || !_adapterIds.TryAdd(id, baseId)) throw new ArgumentException($"Two models share the id '{id}'.", nameof(name));
        return this;
    }

    /// <summary>
    /// Loads the PEFT adapter in <paramref name="folder"/> onto the served model <paramref name="baseId"/> and serves
    /// it as <c>{baseId}+{name}</c>, while the server runs. Refused (<see cref="HostingException"/>) when the base is not
    /// a local model, the id is taken, or the folder does not fit the base.
    /// </summary>
    internal string ServeAdapter(string baseId, string name, string folder)
    {
        // Through GetService: the served client is the engine wrapped in middleware (ClientMiddleware), never a bare LocalChatClient.
        if (!_chat.TryGetValue(baseId, out var client) || client.GetService<LocalChatClient>() is not { } local)
            throw HostingException.NotFound($"The model '{baseId}' is not a local model served here; served: {string.Join(", ", _chat.Keys)}.", "model");
        var id = baseId + "+" + name;
        lock (_adapterIds)
            if (_adapterIds.ContainsKey(id) || _chat.ContainsKey(id))
                throw HostingException.Conflict($"The model id '{id}' is already served; pick another name.", "name");
        ServedAdapters.Load(local, name, folder);
        AddAdapterId(baseId, name);
        return id;
    }

    /// <summary>
    /// Wraps every served client in the standard Microsoft.Extensions.AI middleware (OpenTelemetry with the GenAI
    /// conventions, logging); done once, when the server starts. The registry still owns and disposes them.
    /// </summary>
    internal void UseMiddleware(ClientMiddlewareOptions options)
    {
        foreach (var id in _chat.Keys.ToList()) _chat[id] = ClientMiddleware.Chat(_chat[id], options);
        foreach (var id in _embedding.Keys.ToList()) _embedding[id] = ClientMiddleware.Embeddings(_embedding[id], options);
    }

    /// <summary>Ids of the chat models that can be fine-tuned (their files are known).</summary>
    public IReadOnlyList<string> TunableIds => [.. _chat.Keys.Where(_files.ContainsKey)];

    internal bool TryGetFile(string id, out string path) => _files.TryGetValue(id, out path!);

    /// <summary>Serves <paramref name="generator"/> for embeddings under <paramref name="id"/>.</summary>
    public ModelRegistry AddEmbedding(string id, IEmbeddingGenerator<string, Embedding<float>> generator)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        ArgumentNullException.ThrowIfNull(generator);
        if (!_embedding.TryAdd(id, generator)) throw new ArgumentException($"Two embedding models share the id '{id}'.", nameof(id));
        return this;
    }

    /// <summary>Ids of every served model, chat first, in the order they were added.</summary>
    public IReadOnlyList<string> Ids
    {
        get
        {
            lock (_adapterIds) return [.. _chat.Keys, .. _adapterIds.Keys, .. _embedding.Keys.Where(k => !_chat.ContainsKey(k))];
        }
    }

    /// <summary>The first chat model added (the one <c>rag:</c> models answer with), or null when none is served.</summary>
    public string? FirstChatId => _chat.Keys.FirstOrDefault();

    /// <summary>True when at least one embedding generator is served.</summary>
    public bool HasEmbeddings => _embedding.Count > 0;

    internal bool TryGetChat(string id, out IChatClient client)
    {
        string? baseId;
        lock (_adapterIds) _adapterIds.TryGetValue(id, out baseId);
        return _chat.TryGetValue(baseId ?? id, out client!);
    }

    internal bool TryGetEmbedding(string id, out IEmbeddingGenerator<string, Embedding<float>> generator) => _embedding.TryGetValue(id, out generator!);

    internal bool IsEmbeddingOnly(string id) => _embedding.ContainsKey(id) && !_chat.ContainsKey(id);

    /// <summary>
    /// Loads every model named by <paramref name="options"/> (<see cref="ServerOptions.Models"/> and
    /// <see cref="ServerOptions.ModelsDir"/>) as a <see cref="LocalChatClient"/>, with its <see cref="ServerOptions.Adapters"/>.
    /// </summary>
    public static ModelRegistry LoadLocal(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var paths = new List<string>(options.Models);
        if (options.ModelsDir is { Length: > 0 } dir)
            paths.AddRange(Directory.GetFiles(dir, "*.gguf").Order(StringComparer.Ordinal));
        var registry = new ModelRegistry();
        try
        {
            foreach (var path in paths)
            {
                if (!File.Exists(path) && !Directory.Exists(path))
                    throw new ServerOptionsException($"Model '{path}' does not exist; pass a GGUF or llama2.c file with --model, or a folder with --models-dir.");
                var id = IdOf(path);
                var client = ChatModels.Create(new ChatModelSettings
                {
                    Model = path, Tokenizer = options.TokenizerPath, ContextSize = options.ContextSize, Threads = options.Threads, Slots = options.Slots,
                });
                try { registry.AddChat(id, client, path); }
                catch { client.Dispose(); throw; }
            }
            for (int i = 0; i < options.Adapters.Count; i++)
                registry.LoadAdapter(options, i);
        }
        catch
        {
            registry.Dispose();
            throw;
        }
        return registry;
    }

    private void LoadAdapter(ServerOptions options, int index)
    {
        var (model, name, folder) = options.ParseAdapter(index);
        string entry = $"Server:Adapters:{index} '{options.Adapters[index]}'";
        var baseId = model ?? _chat.Keys.FirstOrDefault()
            ?? throw new ServerOptionsException($"{entry} needs a model to go on; pass one with --model.");
        try
        {
            ServeAdapter(baseId, name, folder);
        }
        catch (HostingException e)
        {
            throw new ServerOptionsException($"{entry}: {e.Message}");
        }
    }

    /// <summary>A model's id: its file (or folder) name without the extension.</summary>
    internal static string IdOf(string path) => Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(path));

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var c in _chat.Values) c.Dispose();
        foreach (var e in _embedding.Values) e.Dispose();
        _chat.Clear();
        lock (_adapterIds) _adapterIds.Clear();
        _embedding.Clear();
    }
}
