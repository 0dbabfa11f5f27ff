using System.CommandLine;
using RagTune.FineTuning.Adapters;
using RagTune.Models.Local;

namespace RagTune.Cli.Commands;

/// <summary>
/// <c>--adapter &lt;dir&gt;</c> on the inference commands: a PEFT LoRA adapter (ours or trained elsewhere) merged
/// into an F32 copy of the base for the run. The base file is never modified.
/// </summary>
internal static class AdapterOption
{
    public static Option<string?> Create() =>
        new("--adapter") { Description = "LoRA adapter folder (PEFT layout: adapter_config.json + adapter_model.safetensors) applied to --model" };

    /// <summary>Returns <paramref name="local"/> itself, or a model that owns it and the merged weights.</summary>
    public static LocalModel Apply(LocalModel local, string? adapterDir)
    {
        if (adapterDir is null) return local;
        try
        {
            var adapter = PeftAdapter.Load(adapterDir, local.Engine.Config);
            return local.WithEngine(adapter.Merge(local.Engine));
        }
        catch
        {
            local.Dispose();
            throw;
        }
    }
}
