using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Models;

/// <summary>
/// A loaded decoder: config + weights + the mapping that keeps the weights alive. Immutable after load and
/// shareable across threads; per-conversation state lives in <see cref="InferenceSession"/>.
/// </summary>
public sealed class TransformerModel : IDisposable
{
    private readonly IDisposable _owner;

    /// <summary>Wraps loaded weights; <paramref name="owner"/> keeps their memory alive and is disposed with the model.</summary>
    /// <param name="path">The file or folder loaded.</param>
    /// <param name="config">Hyperparameters (validated).</param>
    /// <param name="weights">Views of the weights.</param>
    /// <param name="owner">What the views point into.</param>
    /// <param name="gguf">The GGUF file, when loaded from one.</param>
    /// <param name="ropeFreqDivisors">
    /// Per-pair frequency divisors stored in the file ([headDim/2], llama.cpp's <c>rope_freqs.weight</c>); used when
    /// the config carries no <see cref="ModelConfig.RopeScaling"/>. Empty: none.
    /// </param>
    internal TransformerModel(string path, ModelConfig config, ModelWeights weights, IDisposable owner, GgufFile? gguf,
        ReadOnlySpan<float> ropeFreqDivisors = default)
    {
        Path = path;
        Config = config;
        Weights = weights;
        _owner = owner;
        Gguf = gguf;
        InverseFrequencies = new float[config.HeadDim / 2];
        Rope.InverseFrequencies(InverseFrequencies, config.HeadDim, config.RopeTheta);
        if (config.RopeScaling != null) ropeFreqDivisors = config.RopeScaling.FrequencyDivisors(InverseFrequencies);
        if (!ropeFreqDivisors.IsEmpty)
        {
            if (ropeFreqDivisors.Length != InverseFrequencies.Length)
                throw new ModelFormatException($"{path}: rope frequency factors have {ropeFreqDivisors.Length} entries, but head dim {config.HeadDim} needs {InverseFrequencies.Length}. Re-convert the model.");
            // As ggml_rope_ext: theta = pos * invFreq / freq_factor.
            for (int i = 0; i < InverseFrequencies.Length; i++) InverseFrequencies[i] /= ropeFreqDivisors[i];
        }
    }

    /// <summary>The file (or Hugging Face folder) the model was loaded from.</summary>
    public string Path { get; }

    /// <summary>The hyperparameters (validated at load).</summary>
    public ModelConfig Config { get; }

    /// <summary>Read-only views of the weights in the mapped file.</summary>
    public ModelWeights Weights { get; }

    /// <summary>The GGUF file when loaded from one (its metadata carries the tokenizer); null for llama2.c files.</summary>
    public GgufFile? Gguf { get; }

    /// <summary>RoPE inverse frequencies, [headDim/2]; rope scaling variants only change these.</summary>
    public float[] InverseFrequencies { get; }

    /// <summary>
    /// Opens a GGUF or llama2.c checkpoint (chosen by the file's first bytes, <see cref="ModelFileProbe"/>) or a Hugging Face folder
    /// (config.json + model.safetensors or shards).
    /// </summary>
    public static TransformerModel Load(string path)
    {
        if (Directory.Exists(path))
            return HuggingFaceModelLoader.Load(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist. Pass the path of a .gguf file, a llama2.c .bin checkpoint or a Hugging Face model folder.", path);
        return ModelFileProbe.Detect(path) == ModelFileKind.Gguf ? GgufModelLoader.Load(path) : LlamaCModelLoader.Load(path);
    }

    /// <inheritdoc/>
    public void Dispose() => _owner.Dispose();
}

/// <summary>Shape checks shared by the loaders, so a wrong file fails at load with the tensor named.</summary>
internal static class WeightShapes
{
    public static TensorView Expect(string source, string name, TensorView t, long rows, int cols, bool requireF32 = false)
    {
        var traits = GgmlTypes.Traits(t.Type);
        if (!traits.Supported)
            throw new ModelFormatException($"{source}: tensor '{name}' has type {traits.Name}, which this engine does not run yet (supported: f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k). Use an F32, F16, BF16, Q8_0, Q4_0 or Q4_K/Q5_K/Q6_K file of this model.");
        if (t.Rows != rows || t.Cols != cols)
            throw new ModelFormatException($"{source}: tensor '{name}' has shape [{t.Rows}, {t.Cols}] but the hyperparameters imply [{rows}, {cols}]. The file does not match its own metadata; re-convert it.");
        if (requireF32 && t.Type != GgmlType.F32)
            throw new ModelFormatException($"{source}: tensor '{name}' must be f32 (norm and bias vectors are never quantized), but it is {traits.Name}.");
        return t;
    }
}
