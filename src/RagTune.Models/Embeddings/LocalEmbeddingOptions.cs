namespace RagTune.Models.Embeddings;

/// <summary>How token states become one sentence vector (sentence-transformers' <c>Pooling</c> module).</summary>
public enum EmbeddingPooling
{
    /// <summary>Mean of the token states of the input (every token, [CLS] and [SEP] included): all-MiniLM, E5, GTE.</summary>
    Mean,

    /// <summary>The [CLS] token's state: BGE.</summary>
    Cls,
}

/// <summary>Model families whose inputs carry a prefix that says whether the text is a query or a passage.</summary>
public enum EmbeddingFamily
{
    /// <summary>No prefixes (all-MiniLM, GTE).</summary>
    None,

    /// <summary>E5 (Wang et al. 2022): <c>"query: "</c> and <c>"passage: "</c> on every input.</summary>
    E5,

    /// <summary>BGE v1.5: an instruction before queries only, passages as they are.</summary>
    Bge,
}

/// <summary>
/// Options of <see cref="LocalEmbeddingGenerator"/>. Null values mean "as the model folder says": sentence-transformers'
/// <c>1_Pooling/config.json</c>, <c>modules.json</c> and <c>sentence_bert_config.json</c>, or the defaults named below
/// for a plain Hugging Face BERT folder.
/// </summary>
public sealed record LocalEmbeddingOptions
{
    /// <summary>The query instruction of BGE v1.5 English models (from the model card).</summary>
    public const string BgeQueryInstruction = "Represent this sentence for searching relevant passages: ";

    /// <summary>Pooling; null reads the folder's pooling config (mean when the folder has none).</summary>
    public EmbeddingPooling? Pooling { get; init; }

    /// <summary>L2-normalise the vectors; null follows the folder's <c>modules.json</c> (true when the folder has none).</summary>
    public bool? Normalize { get; init; }

    /// <summary>Longest input in tokens, [CLS] and [SEP] included; longer inputs are cut (with one warning). Null: the folder's <c>max_seq_length</c>, else the model's positions.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Inputs run through the encoder together. Default 32.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Compute threads; 0 (default) uses one per processor.</summary>
    public int Threads { get; init; }

    /// <summary>Text put before every document/passage input. Null (default): the folder's <c>document</c> prompt in <c>config_sentence_transformers.json</c>, else none.</summary>
    public string? PassagePrefix { get; init; }

    /// <summary>
    /// Text put before every query input (see <see cref="LocalEmbeddingGenerator.ForQueries"/>). Null (default): the
    /// folder's <c>query</c> prompt in <c>config_sentence_transformers.json</c> (snowflake-arctic-embed's instruction), else none.
    /// </summary>
    public string? QueryPrefix { get; init; }

    /// <summary>
    /// Where an ONNX encoder (<c>model.onnx</c>, or a folder with <c>onnx/model.onnx</c>) is converted once to the
    /// safetensors layout it runs from. Null (default): <c>onnx-import</c> in the model cache (<c>$RAGTUNE_MODELS_DIR</c>, else <c>~/.ragtune/models</c>).
    /// </summary>
    public string? OnnxImportDir { get; init; }

    /// <summary>Called with a message the first time an input is cut to <see cref="MaxTokens"/>; null writes it to <see cref="System.Diagnostics.Trace"/>.</summary>
    public Action<string>? Warning { get; init; }

    /// <summary>Options with the prefixes of <paramref name="family"/>.</summary>
    public static LocalEmbeddingOptions ForFamily(EmbeddingFamily family) => family switch
    {
        EmbeddingFamily.E5 => new LocalEmbeddingOptions { QueryPrefix = "query: ", PassagePrefix = "passage: " },
        EmbeddingFamily.Bge => new LocalEmbeddingOptions { QueryPrefix = BgeQueryInstruction, PassagePrefix = "" },
        _ => new LocalEmbeddingOptions(),
    };

    internal void Validate()
    {
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        if (MaxTokens is < 2) throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "MaxTokens must leave room for [CLS] and [SEP] (at least 2).");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (one per processor) or positive.");
        if (OnnxImportDir is { Length: 0 }) throw new ArgumentException("OnnxImportDir must be null (the model cache) or a folder path.", nameof(OnnxImportDir));
    }
}

/// <summary>An embedding model folder is incomplete or uses a configuration RagTune does not support. The message names the file and the fix.</summary>
public sealed class EmbeddingModelException : IOException
{
    /// <summary>Creates the exception with a generic message.</summary>
    public EmbeddingModelException() : base("The embedding model folder is not supported.") { }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public EmbeddingModelException(string message) : base(message) { }

    /// <summary>Creates the exception with <paramref name="message"/> wrapping <paramref name="innerException"/>.</summary>
    public EmbeddingModelException(string message, Exception innerException) : base(message, innerException) { }
}
