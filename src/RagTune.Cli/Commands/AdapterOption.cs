using System.CommandLine;
using RagTune.FineTuning.Adapters;
using RagTune.Models.Local;

namespace RagTune.Cli.Commands;

/// <summary>
/// <c>--adapter &lt;dir&gt;</c> on the inference commands: a PEFT LoRA adapter (ours or trained elsewhere) applied beside
/// the base's own weights (unmerged: a quantized base stays quantized, nothing is copied). The base file is never modified.
/// </summary>
internal static class AdapterOption
{
    public static Option<string?> Create() =>
        new("--adapter") { Description = "LoRA adapter folder (PEFT layout: adapter_config.json + adapter_model.safetensors), or the folder 'tune --out' wrote, applied to --model" };

    /// <summary>Returns <paramref name="local"/> itself, or a model that owns it and carries the adapter (<see cref="LocalModel.Adapter"/>).</summary>
    public static LocalModel Apply(LocalModel local, string? adapterDir) => local.WithPeftAdapter(adapterDir);
}
