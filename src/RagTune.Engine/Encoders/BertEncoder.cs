using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Encoders;

/// <summary>
/// A loaded BERT encoder: immutable <see cref="BertConfig"/> and read-only <see cref="BertWeights"/> over a mapped
/// <c>model.safetensors</c>. Thread-safe to share; each thread runs its own <see cref="BertSession"/>.
/// </summary>
internal sealed class BertEncoder : IDisposable
{
    private readonly SafetensorsReader _file;

    private BertEncoder(BertConfig config, BertWeights weights, SafetensorsReader file)
    {
        Config = config;
        Weights = weights;
        _file = file;
    }

    /// <summary>Hyperparameters.</summary>
    public BertConfig Config { get; }

    /// <summary>Weights (views into the mapped file).</summary>
    public BertWeights Weights { get; }

    /// <summary>Path of the weights file.</summary>
    public string WeightsPath => _file.Path;

    /// <summary>Storage type of the matrices (F32, F16 or BF16).</summary>
    public GgmlType WeightType => Weights.Layers[0].Query.Type;

    /// <summary>
    /// Loads a Hugging Face BERT folder: <c>config.json</c> and <c>model.safetensors</c> (single file; sharded
    /// checkpoints are not supported).
    /// </summary>
    /// <exception cref="FileNotFoundException">config.json or model.safetensors is missing.</exception>
    /// <exception cref="ModelFormatException">The files are malformed or do not describe a supported BERT.</exception>
    public static BertEncoder Load(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Model folder '{folder}' does not exist; pass a Hugging Face folder holding config.json and model.safetensors.");
        var config = BertConfig.FromJson(Path.Combine(folder, "config.json"));
        var weightsPath = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weightsPath))
        {
            var hint = File.Exists(Path.Combine(folder, "pytorch_model.bin"))
                ? " The folder has pytorch_model.bin only; convert it to safetensors (safetensors.torch.save_file) or download model.safetensors."
                : File.Exists(Path.Combine(folder, "model.safetensors.index.json")) ? " Sharded checkpoints are not supported; merge the shards into one model.safetensors." : "";
            throw new FileNotFoundException($"'{folder}' has no model.safetensors; the weights are missing.{hint}", weightsPath);
        }
        var file = SafetensorsReader.Open(weightsPath);
        try
        {
            return new BertEncoder(config, BertWeights.Load(file, config), file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose() => _file.Dispose();
}
