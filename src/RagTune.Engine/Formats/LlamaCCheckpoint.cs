using RagTune.Engine.Tensors;

namespace RagTune.Engine.Formats;

/// <summary>
/// Hyperparameters from a llama2.c checkpoint header (<c>Config</c> in run.c). <see cref="VocabSize"/> is the
/// absolute value; the header's sign says whether the classifier is shared with the token embedding.
/// </summary>
internal sealed record LlamaCConfig(int Dim, int HiddenDim, int NLayers, int NHeads, int NKvHeads, int VocabSize, int SeqLen, bool SharedClassifier)
{
    public int HeadSize => Dim / NHeads;

    /// <summary>Width of the key/value projections: n_kv_heads * head_size.</summary>
    public int KvDim => NKvHeads * HeadSize;
}

/// <summary>
/// A llama2.c legacy (v0) checkpoint, memory-mapped read-only: a 7 x int32 header followed by fp32 arrays in the
/// order of run.c's <c>TransformerWeights</c>. Weights are used in place. Views follow the GGUF convention:
/// Rows = output features, Cols = input features, which is llama2.c's memory order (its matmul computes
/// xout[i] = Σ_j w[i*n + j] x[j]).
/// </summary>
internal sealed unsafe class LlamaCCheckpoint : IDisposable
{
    /// <summary>Magic of llama2.c's versioned export (export.py version 1/2): "ak42" as a little-endian uint32.</summary>
    public const uint VersionedMagic = 0x616b3432;

    private const int HeaderBytes = 7 * sizeof(int);

    private readonly MappedFile _file;
    private readonly Dictionary<string, Field> _fields;

    // One fp32 array of the file: where it starts (bytes from the file start), whether it holds one slab per
    // layer, and the 2-D shape of one slab.
    private readonly record struct Field(long Offset, bool PerLayer, long Rows, int Cols);

    /// <summary>Field names in file order, as in run.c's TransformerWeights (freq_cis_* are skipped).</summary>
    public static readonly IReadOnlyList<string> FieldNames =
    [
        "token_embedding_table", "rms_att_weight", "wq", "wk", "wv", "wo", "rms_ffn_weight",
        "w1", "w2", "w3", "rms_final_weight", "wcls",
    ];

    private LlamaCCheckpoint(MappedFile file, LlamaCConfig config, Dictionary<string, Field> fields)
    {
        _file = file;
        Config = config;
        _fields = fields;
    }

    /// <summary>Full path of the file.</summary>
    public string Path => _file.Path;

    /// <summary>The header's hyperparameters.</summary>
    public LlamaCConfig Config { get; }

    /// <summary>True when the classifier is the token embedding (positive vocab_size in the header).</summary>
    public bool SharedClassifier => Config.SharedClassifier;

    /// <summary>
    /// Maps and validates <paramref name="path"/>. Throws <see cref="FileNotFoundException"/> when it does not
    /// exist and <see cref="ModelFormatException"/> when it is not a consistent llama2.c v0 checkpoint.
    /// </summary>
    public static LlamaCCheckpoint Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("llama2.c checkpoints are little-endian; this machine is not.");
        var file = MappedFile.Open(path);
        try
        {
            var (config, fields) = Parse(file);
            return new LlamaCCheckpoint(file, config, fields);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (LlamaCConfig, Dictionary<string, Field>) Parse(MappedFile file)
    {
        const string NotV0 = "not a llama2.c v0 checkpoint (this reader does not support the v1/v2 'ak42' versioned export; re-export with legacy_export)";
        ModelFormatException Error(string message) => new(file.Path, message);

        if (file.Length < HeaderBytes)
            throw Error($"the file is {file.Length} bytes, shorter than the 28-byte llama2.c header; it is {NotV0} or truncated. Re-download it.");
        var h = (int*)file.Pointer;
        if ((uint)h[0] == VersionedMagic)
            throw Error($"this is a llama2.c versioned ('ak42') export, version {h[1]}; this reader only reads the legacy v0 format. Re-export with export.py --version 0 (legacy_export), or convert the model to GGUF.");
        if (file.Length >= 4 && h[0] == 0x46554747)
            throw Error("this is a GGUF file, not a llama2.c checkpoint; open it with the GGUF reader.");

        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], vocabRaw = h[5], seqLen = h[6];
        var header = $"dim={dim}, hidden_dim={hidden}, n_layers={layers}, n_heads={heads}, n_kv_heads={kvHeads}, vocab_size={vocabRaw}, seq_len={seqLen}";
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocabRaw == 0 || vocabRaw == int.MinValue || seqLen <= 0)
            throw Error($"header ({header}) has a zero or negative size; it is {NotV0}.");
        if (dim % heads != 0)
            throw Error($"header ({header}): n_heads does not divide dim; it is {NotV0}.");
        if (heads % kvHeads != 0)
            throw Error($"header ({header}): n_kv_heads does not divide n_heads; it is {NotV0}.");
        var config = new LlamaCConfig(dim, hidden, layers, heads, kvHeads, Math.Abs(vocabRaw), seqLen, vocabRaw > 0);
        var headSize = config.HeadSize;
        var kvDim = config.KvDim;
        var vocab = config.VocabSize;

        var fields = new Dictionary<string, Field>(StringComparer.Ordinal);
        long offset = HeaderBytes;
        void Add(string name, bool perLayer, long rows, int cols)
        {
            fields[name] = new Field(offset, perLayer, rows, cols);
            // Checked: a garbage header of int.MaxValue sizes must not wrap around to the file's length.
            try
            {
                offset = checked(offset + (perLayer ? layers : 1) * rows * cols * sizeof(float));
            }
            catch (OverflowException)
            {
                throw Error($"header ({header}) implies a file larger than 2^63 bytes; it is {NotV0}.");
            }
        }
        // Shapes as [rows = out, cols = in] per slab; file order from run.c memory_map_weights.
        Add("token_embedding_table", false, vocab, dim);  // [vocab, dim]
        Add("rms_att_weight", true, 1, dim);              // [L, dim]
        Add("wq", true, heads * headSize, dim);           // [L, n_heads*head_size, dim]
        Add("wk", true, kvDim, dim);                      // [L, kv_dim, dim]
        Add("wv", true, kvDim, dim);                      // [L, kv_dim, dim]
        Add("wo", true, dim, heads * headSize);           // [L, dim, n_heads*head_size]
        Add("rms_ffn_weight", true, 1, dim);              // [L, dim]
        Add("w1", true, hidden, dim);                     // [L, hidden, dim]
        Add("w2", true, dim, hidden);                     // [L, dim, hidden]
        Add("w3", true, hidden, dim);                     // [L, hidden, dim]
        Add("rms_final_weight", false, 1, dim);           // [dim]
        offset += 2L * seqLen * (headSize / 2) * sizeof(float); // freq_cis_real, freq_cis_imag: unused (RoPE is computed)
        var sharedSize = offset;
        if (config.SharedClassifier)
            fields["wcls"] = fields["token_embedding_table"];
        else
            Add("wcls", false, vocab, dim);               // [vocab, dim]

        if (file.Length != offset)
        {
            var classifierBytes = (long)vocab * dim * sizeof(float);
            var why = config.SharedClassifier && file.Length == offset + classifierBytes
                ? " The extra bytes are exactly one classifier: the header's vocab_size should be negative (unshared wcls); the export is inconsistent."
                : !config.SharedClassifier && file.Length == sharedSize
                    ? " The file ends where a shared-classifier checkpoint would: the header's vocab_size should be positive."
                    : file.Length < offset ? " The file is truncated or the header is wrong; re-download it." : "";
            throw Error($"the file is {file.Length} bytes but its header ({header}) implies exactly {offset} bytes " +
                $"({(config.SharedClassifier ? "shared" : "separate")} classifier); it is {NotV0}, or damaged.{why}");
        }
        return (config, fields);
    }

    /// <summary>
    /// A view of one weight. Per-layer fields (rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3) need
    /// <paramref name="layer"/>; the others (token_embedding_table, rms_final_weight, wcls) take the default -1.
    /// A shared wcls is the token embedding.
    /// </summary>
    public TensorView Get(string field, int layer = -1)
    {
        if (!_fields.TryGetValue(field, out var f))
        {
            throw new ArgumentException($"Unknown llama2.c weight '{field}'. Known: {string.Join(", ", FieldNames)} " +
                "(freq_cis_real/imag are not exposed; RoPE is computed).", nameof(field));
        }
        if (f.PerLayer)
        {
            if ((uint)layer >= (uint)Config.NLayers)
                throw new ArgumentOutOfRangeException(nameof(layer), layer, $"'{field}' is per layer; pass a layer in 0..{Config.NLayers - 1}.");
        }
        else if (layer != -1)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"'{field}' is not per layer; leave layer at -1.");
        }
        var slabBytes = f.Rows * f.Cols * sizeof(float);
        var at = f.Offset + (f.PerLayer ? layer * slabBytes : 0);
        return new TensorView(_file.Pointer + at, GgmlType.F32, f.Rows, f.Cols);
    }

    public void Dispose() => _file.Dispose();
}
