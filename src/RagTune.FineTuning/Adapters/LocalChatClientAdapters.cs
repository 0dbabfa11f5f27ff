using RagTune.Models.Local;

namespace RagTune.FineTuning.Adapters;

/// <summary>Loading LoRA adapters onto a <see cref="LocalChatClient"/>, which serves them beside one base without merging.</summary>
public static class LocalChatClientAdapters
{
    /// <summary>
    /// Loads the PEFT adapter in <paramref name="adapterFolder"/> (<c>adapter_config.json</c> +
    /// <c>adapter_model.safetensors</c>, ours or trained elsewhere) under <paramref name="name"/>. A request selects it with
    /// <c>ChatOptions.AdditionalProperties["adapter"] = name</c> or <c>ChatOptions.ModelId = "{model}+{name}"</c>.
    /// Throws an <see cref="IOException"/> (<see cref="InvalidDataException"/> for a shape mismatch) naming the problem when the
    /// folder is not an adapter or was trained for another base.
    /// </summary>
    public static void AddAdapter(this LocalChatClient client, string name, string adapterFolder)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(adapterFolder);
        client.AddAdapter(name, PeftAdapter.Load(adapterFolder, client.ModelConfig));
    }
}
