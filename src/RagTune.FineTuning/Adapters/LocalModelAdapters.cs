using RagTune.Engine.Training;
using RagTune.Models.Local;

namespace RagTune.FineTuning.Adapters;

/// <summary>A PEFT adapter put onto one <see cref="LocalModel"/> (the CLI's --adapter, a comparison's trained arms).</summary>
public static class LocalModelAdapters
{
    /// <summary>
    /// Returns <paramref name="local"/> itself when <paramref name="adapterFolder"/> is null, else a model that owns it
    /// and carries the PEFT adapter (<see cref="LocalModel.Adapter"/>, applied unmerged: a quantized base stays
    /// quantized). On failure <paramref name="local"/> is disposed and the error names the problem.
    /// </summary>
    public static LocalModel WithPeftAdapter(this LocalModel local, string? adapterFolder)
    {
        ArgumentNullException.ThrowIfNull(local);
        if (adapterFolder is null) return local;
        try
        {
            var adapter = PeftAdapter.Load(adapterFolder, local.Engine.Config);
            return local.WithAdapter(new LoraDelta(adapter, local.Engine.Config));
        }
        catch
        {
            local.Dispose();
            throw;
        }
    }
}
