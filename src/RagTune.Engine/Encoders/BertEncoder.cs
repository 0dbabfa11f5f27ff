using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Encoders;

/// <summary>
/// A loaded BERT encoder: immutable <see cref="BertConfig"/> and read-only <see cref="BertWeights"/> over a mapped
/// <c>model.safetensors</c>. Thread-safe to share; each thread runs its own <see cref="BertSession"/>.
/// </summary>
public sealed class BertEncoder : IDisposable
{
    private readonly IEncoderTensors _file;

    private BertEncoder(BertConfig config, BertWeights weights, IEncoderTensors file, BertGgufInfo? gguf = null)
    {
        Config = config;
        Weights = weights;
        _file = file;
        Gguf = gguf;
    }

    /// <summary>Tokenizer vocabulary and pooling a GGUF file carries; null for Hugging Face folders.</summary>
    public BertGgufInfo? Gguf { get; }

    /// <summary>Hyperparameters.</summary>
    public BertConfig Config { get; }

    /// <summary>Weights (views into the mapped file).</summary>
    internal BertWeights Weights { get; }

    /// <summary>True when the checkpoint has BERT's pooler (dense + tanh over [CLS]), which a classification head reads.</summary>
    public bool HasPooler => !Weights.PoolerWeight.IsEmpty;

    /// <summary>Path of the weights file.</summary>
    public string WeightsPath => _file.Path;

    /// <summary>Storage type of the matrices (F32, F16 or BF16; Q8_0 or Q4_0 from GGUF).</summary>
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
        var file = new SafetensorsEncoderTensors(SafetensorsFile.Open(weightsPath));
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

    /// <summary>
    /// Loads a llama.cpp GGUF file of architecture <c>bert</c> (as written by convert_hf_to_gguf.py): hyperparameters
    /// from <c>bert.*</c>, the WordPiece vocabulary from <c>tokenizer.ggml.tokens</c>, pooling from <c>bert.pooling_type</c>.
    /// Pooler and classifier heads are not read from GGUF.
    /// </summary>
    /// <exception cref="ModelFormatException">The file is not a BERT GGUF or is inconsistent.</exception>
    public static BertEncoder LoadGguf(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            var arch = file.GetString("general.architecture");
            if (arch != "bert")
                throw new ModelFormatException(file.Path, $"general.architecture is '{arch}', not 'bert'; only BERT encoders load here (decoders load with GgufModelLoader).");
            int Int(string key) => checked((int)(file.GetInt(key) ?? throw new ModelFormatException(file.Path, $"metadata '{key}' is missing; the GGUF was not written by a BERT converter.")));
            var tokens = file.GetStringArray("tokenizer.ggml.tokens")
                ?? throw new ModelFormatException(file.Path, "tokenizer.ggml.tokens is missing; the GGUF carries no vocabulary.");
            var types = file.TryGetTensor("token_types.weight", out var tt) ? checked((int)tt.Rows) : 2;
            var config = new BertConfig(tokens.Length, Int("bert.embedding_length"), Int("bert.block_count"), Int("bert.attention.head_count"),
                Int("bert.feed_forward_length"), Int("bert.context_length"), types, file.GetFloat("bert.attention.layer_norm_epsilon") ?? 1e-12f);
            config.Validate(file.Path);
            var source = new GgufEncoderTensors(file);
            var info = new BertGgufInfo(tokens, (int)(file.GetInt("bert.pooling_type") ?? 0));
            return new BertEncoder(config, BertWeights.Load(source, config), source, info);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}

/// <summary>What a BERT GGUF says beyond the weights.</summary>
/// <param name="Tokens">tokenizer.ggml.tokens: llama.cpp's WordPiece form (word-initial pieces carry ▁, continuations no ##).</param>
/// <param name="PoolingType">bert.pooling_type as llama.cpp numbers it: 0 none, 1 mean, 2 cls, 3 last, 4 rank.</param>
public sealed record BertGgufInfo(string[] Tokens, int PoolingType);
