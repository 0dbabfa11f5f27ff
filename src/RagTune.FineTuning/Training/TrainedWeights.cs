using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;

namespace RagTune.FineTuning.Training;

/// <summary>
/// What a run trains and how it is written: a LoRA adapter (exported in the PEFT layout) or, with --method full, every
/// weight of the model (exported as a GGUF model file). The trainer's loop, checkpoints and best-step logic are the same
/// for both.
/// </summary>
internal abstract class TrainedWeights
{
    /// <summary>The tensors the optimizer updates.</summary>
    public abstract IReadOnlyList<LoraParameter> Parameters { get; }

    /// <summary>Folder name of the exported result under --out ("adapter" or "model").</summary>
    public abstract string ExportName { get; }

    /// <summary>Files an export writes, relative to its folder.</summary>
    public abstract IReadOnlyList<string> ExportFiles { get; }

    /// <summary>A training session over these weights.</summary>
    public abstract TrainingSession CreateSession(TrainingOptions options);

    /// <summary>Writes the values into a checkpoint folder.</summary>
    public abstract void SaveCheckpoint(string dir);

    /// <summary>Reads the values back from a checkpoint folder written by <see cref="SaveCheckpoint"/>.</summary>
    public abstract void LoadCheckpoint(string dir);

    /// <summary>Writes the usable result (the PEFT adapter, or the model file) into <paramref name="dir"/>.</summary>
    public abstract void Export(string dir, string baseName);
}

/// <summary>LoRA over a frozen base of any type.</summary>
internal sealed class TrainedAdapter(TransformerModel model, LoraAdapter adapter) : TrainedWeights
{
    public override IReadOnlyList<LoraParameter> Parameters => adapter.Parameters;

    public override string ExportName => PeftAdapter.TuneOutputFolder;

    public override IReadOnlyList<string> ExportFiles { get; } = [PeftAdapter.ConfigFileName, PeftAdapter.WeightsFileName];

    public override TrainingSession CreateSession(TrainingOptions options) => new(model, adapter, options);

    public override void SaveCheckpoint(string dir) => adapter.Save(Path.Combine(dir, "adapter.rtlora"));

    public override void LoadCheckpoint(string dir)
    {
        var saved = LoraAdapter.Load(Path.Combine(dir, "adapter.rtlora"), model.Config);
        for (int i = 0; i < saved.Parameters.Count; i++) saved.Parameters[i].Values.CopyTo(adapter.Parameters[i].Values, 0);
    }

    public override void Export(string dir, string baseName) => PeftAdapter.Save(adapter, model.Config, dir, baseName);
}

/// <summary>Every weight of an F32 GGUF model (full fine-tuning).</summary>
internal sealed class TrainedModel(FullModelParameters full) : TrainedWeights
{
    /// <summary>The exported model's file name inside its folder.</summary>
    public const string ModelFileName = "model.gguf";

    public override IReadOnlyList<LoraParameter> Parameters => full.Parameters;

    public override string ExportName => "model";

    public override IReadOnlyList<string> ExportFiles { get; } = [ModelFileName];

    public override TrainingSession CreateSession(TrainingOptions options) => new(full, options);

    public override void SaveCheckpoint(string dir) => full.SaveGguf(Path.Combine(dir, ModelFileName));

    public override void LoadCheckpoint(string dir) => full.LoadGguf(Path.Combine(dir, ModelFileName));

    public override void Export(string dir, string baseName)
    {
        Directory.CreateDirectory(dir);
        full.SaveGguf(Path.Combine(dir, ModelFileName));
    }
}
