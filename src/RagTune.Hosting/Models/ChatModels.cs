using Microsoft.Extensions.AI;
using RagTune.FineTuning.Adapters;
using RagTune.Models.Downloads;
using RagTune.Models.Local;
using RagTune.Models.Remote;

namespace RagTune.Hosting.Models;

/// <summary>
/// Which chat model to use, as every front end names one: a local model run on RagTune's engine (a file, a Hugging
/// Face folder, or a catalog / cache name) with an optional adapter, or an OpenAI-compatible server (a URL, or an
/// endpoint named in the configuration file) with its key. Exactly one of <see cref="Model"/> and <see cref="Remote"/>.
/// </summary>
public sealed record ChatModelSettings
{
    /// <summary>Local model: GGUF, llama2.c .bin, Hugging Face folder, or catalog / cache name.</summary>
    public string? Model { get; init; }

    /// <summary>Tokenizer file for a local model that carries none (llama2.c).</summary>
    public string? Tokenizer { get; init; }

    /// <summary>PEFT / RagTune LoRA adapter folder applied to <see cref="Model"/>.</summary>
    public string? Adapter { get; init; }

    /// <summary>OpenAI-compatible server: an http(s) API root, or an endpoint name from <see cref="RemoteEndpoints.ConfigPath"/>.</summary>
    public string? Remote { get; init; }

    /// <summary>Model name on <see cref="Remote"/>; null: the endpoint's, else the first the server lists (or "default" where listing is not wanted).</summary>
    public string? RemoteModel { get; init; }

    /// <summary>Key sent to <see cref="Remote"/>; wins over <see cref="ApiKeyEnv"/>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Environment variable holding the key; null: the endpoint's, else none.</summary>
    public string? ApiKeyEnv { get; init; }

    /// <summary>Compute threads of a local model; 0 = one per processor.</summary>
    public int Threads { get; init; }

    /// <summary>Context size of a local model in tokens; 0 = the model's, capped (<see cref="LocalChatClientOptions.ContextSize"/>).</summary>
    public int ContextSize { get; init; }

    /// <summary>Requests a local model serves at once (<see cref="LocalChatClientOptions.Slots"/>); default 1.</summary>
    public int Slots { get; init; } = 1;

    /// <summary>Throws <see cref="HostingException"/> (Invalid) naming the setting that is wrong.</summary>
    public void Validate()
    {
        if (Model != null && Remote != null) throw HostingException.Invalid("Give either a local model or a remote server, not both.", nameof(Model));
        if (Model == null && Remote == null) throw HostingException.Invalid("Give a local model (a file, folder or catalog name) or a remote server.", nameof(Model));
        if (Adapter != null && Model == null) throw HostingException.Invalid("An adapter applies to a local model; a remote server serves its own.", nameof(Adapter));
        if (Tokenizer != null && Model == null) throw HostingException.Invalid("A tokenizer file applies to a local model only.", nameof(Tokenizer));
        if (Threads < 0) throw HostingException.Invalid($"Threads {Threads} must be 0 (one per processor) or positive.", nameof(Threads));
        if (ContextSize < 0) throw HostingException.Invalid($"ContextSize {ContextSize} must be 0 (the model's) or positive.", nameof(ContextSize));
        if (Slots is < 1 or > LocalChatClientOptions.MaxSlots) throw HostingException.Invalid($"Slots {Slots} must be 1 to {LocalChatClientOptions.MaxSlots}.", nameof(Slots));
    }
}

/// <summary>
/// The one place a chat model is made from settings: <c>chat</c>, <c>generate --remote</c>, <c>ask</c>, <c>mcp</c>,
/// <c>qa generate</c> and the server's models all come from here, so a model name, an endpoint name or a key means
/// the same everywhere. The caller owns (and disposes) the client; middleware is composed by the caller
/// (<see cref="Middleware.ClientMiddleware"/>).
/// </summary>
public static class ChatModels
{
    /// <summary>
    /// The client <paramref name="settings"/> name. A remote server with no model named anywhere is asked for its
    /// models and the first is used.
    /// </summary>
    public static async Task<IChatClient> CreateAsync(ChatModelSettings settings, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (settings.Model != null) return Local(settings);
        var (url, model, key) = Remote(settings);
        var options = new OpenAICompatibleClientOptions { MaxRetries = 1 };
        if (model == null)
        {
            var served = await OpenAICompatibleChatClient.ListModelsAsync(url, key, options, ct).ConfigureAwait(false);
            model = served.FirstOrDefault() ?? throw HostingException.Invalid($"{url}/models lists no models; name the model to use.", nameof(ChatModelSettings.RemoteModel));
        }
        return new OpenAICompatibleChatClient(url, model, key, options);
    }

    /// <summary>The client <paramref name="settings"/> name, without asking a remote server anything: its model defaults to "default".</summary>
    public static IChatClient Create(ChatModelSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (settings.Model != null) return Local(settings);
        var (url, model, key) = Remote(settings);
        return new OpenAICompatibleChatClient(url, model ?? "default", key);
    }

    private static LocalChatClient Local(ChatModelSettings s)
    {
        // WithPeftAdapter disposes the loaded model when the adapter does not fit it.
        var model = LocalModel.Load(ModelResolver.Resolve(s.Model!), s.Tokenizer).WithPeftAdapter(s.Adapter);
        return new LocalChatClient(model, new LocalChatClientOptions { TokenizerPath = s.Tokenizer, Threads = s.Threads, ContextSize = s.ContextSize, Slots = s.Slots });
    }

    private static (Uri Url, string? Model, string? ApiKey) Remote(ChatModelSettings s)
    {
        var (url, model, key) = RemoteEndpoints.Resolve(s.Remote!, s.RemoteModel, s.ApiKey != null ? null : s.ApiKeyEnv);
        return (url, model, s.ApiKey ?? key);
    }
}
