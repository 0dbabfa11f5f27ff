using System.Diagnostics;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using Microsoft.Extensions.AI;
using RagTune.Engine.Encoders;
using RagTune.Models.Downloads;
using RagTune.Models.Embeddings.Onnx;
using RagTune.Tokenizers;

namespace RagTune.Models.Embeddings;

/// <summary>
/// Sentence embeddings from a local BERT encoder (all-MiniLM, BGE, E5, GTE layouts) through the pure C# engine, as an
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>. Loads a Hugging Face / sentence-transformers folder
/// (<c>config.json</c>, <c>model.safetensors</c>, <c>tokenizer.json</c> or <c>vocab.txt</c>, optional pooling and
/// normalisation configs). Inputs are tokenized as <c>[CLS] text [SEP]</c>, cut to the length limit (one warning),
/// encoded in batches, pooled and optionally L2-normalised; results keep input order. Empty strings are valid
/// inputs (they embed <c>[CLS] [SEP]</c>). One request runs at a time; concurrent callers wait.
/// </summary>
public sealed class LocalEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly BertEncoder _encoder;
    private readonly BertSession _session;
    private readonly WordPieceTokenizer _tokenizer;
    private readonly LocalEmbeddingOptions _options;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly string _queryPrefix;
    private readonly string _passagePrefix;
    private readonly object _gate = new();
    private int _warned;
    private bool _disposed;

    private LocalEmbeddingGenerator(BertEncoder encoder, WordPieceTokenizer tokenizer, LocalEmbeddingOptions options,
        EmbeddingPooling pooling, bool normalize, int maxTokens, string modelId, string weightsSha256, SentenceTransformersConfig? st = null)
    {
        WeightsSha256 = weightsSha256;
        _queryPrefix = options.QueryPrefix ?? st?.QueryPrompt ?? "";
        _passagePrefix = options.PassagePrefix ?? st?.PassagePrompt ?? "";
        _encoder = encoder;
        _tokenizer = tokenizer;
        _options = options;
        Pooling = pooling;
        Normalize = normalize;
        MaxTokens = maxTokens;
        ModelId = modelId;
        _session = new BertSession(encoder, threads: options.Threads);
        _metadata = new EmbeddingGeneratorMetadata("ragtune-local", null, modelId, Dimensions);
    }

    /// <summary>Model id: the folder name (a pulled model's catalog name) and the first 12 hex digits of the weights' SHA-256, e.g. <c>all-minilm-l6-v2@3f1c…</c>.</summary>
    public string ModelId { get; }

    /// <summary>Vector length (the encoder's hidden size).</summary>
    public int Dimensions => _encoder.Config.Hidden;

    /// <summary>Longest input in tokens, [CLS] and [SEP] included.</summary>
    public int MaxTokens { get; }

    /// <summary>The pooling in use.</summary>
    public EmbeddingPooling Pooling { get; }

    /// <summary>Whether vectors are L2-normalised.</summary>
    public bool Normalize { get; }

    /// <summary>SHA-256 of the weights file (lower-case hex).</summary>
    public string WeightsSha256 { get; }

    /// <summary>
    /// What decides a passage vector besides its text: the weights' sha256, pooling, normalisation, the length limit and
    /// the passage prefix. Two generators with the same key embed a text to the same vector (a chunk-vector cache key).
    /// </summary>
    public string VectorCacheKey => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{WeightsSha256}|{Pooling}|{(Normalize ? "l2" : "raw")}|{MaxTokens}|{_passagePrefix}");

    /// <summary>The text put before each query (<see cref="ForQueries"/>): the options', else the folder's query prompt, else empty.</summary>
    public string QueryPrefix => _queryPrefix;

    /// <summary>
    /// Loads the model in <paramref name="folder"/> (a Hugging Face / sentence-transformers folder), a llama.cpp
    /// BERT <c>.gguf</c> file, or an ONNX BERT encoder: a <c>model.onnx</c> file (its tokenizer beside it) or a folder
    /// holding <c>model.onnx</c> / <c>onnx/model.onnx</c> with <c>vocab.txt</c> or <c>tokenizer.json</c>. The ONNX
    /// weights are converted once to a safetensors folder (<see cref="LocalEmbeddingOptions.OnnxImportDir"/>) and run
    /// on our engine; ONNX Runtime is not used.
    /// </summary>
    /// <exception cref="FileNotFoundException">Weights, config or tokenizer files are missing.</exception>
    /// <exception cref="EmbeddingModelException">The folder's pooling or module pipeline is not supported.</exception>
    /// <exception cref="IOException">A file is malformed (the message names it).</exception>
    public static LocalEmbeddingGenerator Load(string folder, LocalEmbeddingOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        options ??= new LocalEmbeddingOptions();
        options.Validate();
        folder = Path.GetFullPath(folder);
        if (File.Exists(folder) && folder.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            return LoadGguf(folder, options);
        if (OnnxEncoderSource.Find(folder) is { } onnx)
            folder = OnnxBertFolder.Cached(onnx, options.OnnxImportDir ?? Path.Combine(ModelDownloaderOptions.DefaultModelsDir(), "onnx-import"));
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Embedding model folder '{folder}' does not exist; pass a folder holding config.json, model.safetensors and vocab.txt or tokenizer.json, a BERT .gguf file or a BERT model.onnx.");
        var st = SentenceTransformersConfig.Read(folder, readPooling: options.Pooling == null);
        var tokenizer = WordPieceTokenizer.FromFolder(folder);
        var encoder = BertEncoder.Load(folder);
        try
        {
            if (tokenizer.VocabSize > encoder.Config.VocabSize)
                throw new EmbeddingModelException($"{folder}: the tokenizer has {tokenizer.VocabSize} tokens but the model only {encoder.Config.VocabSize}; they do not belong together.");
            int maxTokens = Math.Min(encoder.Config.MaxPositions, options.MaxTokens ?? st.MaxSeqLength ?? encoder.Config.MaxPositions);
            // A pulled model lives in <models>/<name>/<variant>/: its manifest names it better than the variant folder does.
            var name = CachedModel.TryLoad(folder)?.Name ?? Path.GetFileName(folder.TrimEnd(Path.DirectorySeparatorChar));
            var sha = WeightsHash(encoder.WeightsPath);
            return new LocalEmbeddingGenerator(encoder, tokenizer, options, options.Pooling ?? st.Pooling ?? EmbeddingPooling.Mean,
                options.Normalize ?? st.Normalize ?? true, Math.Max(2, maxTokens), $"{name}@{sha[..12]}", sha, st);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    // A llama.cpp BERT GGUF: vocabulary and pooling come from its metadata; vectors are normalised unless told otherwise.
    private static LocalEmbeddingGenerator LoadGguf(string path, LocalEmbeddingOptions options)
    {
        var encoder = BertEncoder.LoadGguf(path);
        try
        {
            var tokenizer = WordPieceTokenizer.FromGgufTokens(encoder.Gguf!.Tokens, path);
            var pooling = options.Pooling ?? encoder.Gguf.PoolingType switch
            {
                1 => EmbeddingPooling.Mean,
                2 => EmbeddingPooling.Cls,
                var p => throw new EmbeddingModelException($"{path}: bert.pooling_type {p} is not supported (1 mean, 2 cls); set LocalEmbeddingOptions.Pooling to override."),
            };
            int maxTokens = Math.Min(encoder.Config.MaxPositions, options.MaxTokens ?? encoder.Config.MaxPositions);
            var sha = WeightsHash(path);
            return new LocalEmbeddingGenerator(encoder, tokenizer, options, pooling, options.Normalize ?? true, Math.Max(2, maxTokens),
                $"{Path.GetFileNameWithoutExtension(path)}@{sha[..12]}", sha);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    /// <summary>Embeds documents/passages (with <see cref="LocalEmbeddingOptions.PassagePrefix"/>).</summary>
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default) => GenerateAsync(values, _passagePrefix, options, cancellationToken);

    /// <summary>
    /// A generator over the same model that embeds queries (with <see cref="LocalEmbeddingOptions.QueryPrefix"/>): E5's
    /// <c>"query: "</c>, BGE's instruction. It does not own the model: dispose this generator, not the view.
    /// </summary>
    public IEmbeddingGenerator<string, Embedding<float>> ForQueries() => new QueryView(this, owns: false);

    /// <summary>Like <see cref="ForQueries"/>, but disposing the view disposes this generator: for callers that only embed queries.</summary>
    public IEmbeddingGenerator<string, Embedding<float>> ForQueriesOwned() => new QueryView(this, owns: true);

    /// <summary>Embeds <paramref name="values"/> with <paramref name="prefix"/> before each.</summary>
    private Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, string prefix, EmbeddingGenerationOptions? options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is { } dims && dims != Dimensions)
            throw new NotSupportedException($"{ModelId} produces {Dimensions}-dimensional vectors; Dimensions = {dims} cannot be served (no truncation is applied).");
        var inputs = values.ToList();
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i] is null) throw new ArgumentException($"Input {i} is null; pass empty strings instead.", nameof(values));
        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Count);
        if (inputs.Count == 0) return Task.FromResult(result);

        long tokens = 0;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int h = Dimensions;
            for (int start = 0; start < inputs.Count; start += _options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(_options.BatchSize, inputs.Count - start);
                var encodings = new WordPieceEncoding[n];
                for (int b = 0; b < n; b++)
                {
                    encodings[b] = _tokenizer.EncodeForModel(prefix + inputs[start + b], MaxTokens);
                    if (encodings[b].Truncated) WarnTruncated(start + b);
                }
                var ids = encodings.SelectMany(e => e.Ids).ToArray();
                var lengths = encodings.Select(e => e.Ids.Length).ToArray();
                tokens += ids.Length;
                var hidden = new float[(long)ids.Length * h];
                _session.Forward(hidden, ids, [], lengths);
                var now = DateTimeOffset.UtcNow;
                for (int b = 0, s = 0; b < n; s += lengths[b], b++)
                    result.Add(new Embedding<float>(Pool(hidden.AsSpan(s * h, lengths[b] * h), lengths[b])) { ModelId = ModelId, CreatedAt = now });
            }
        }
        result.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
        return Task.FromResult(result);
    }

    // sentence-transformers Pooling: mean over every token of the (unpadded) input, or the [CLS] row; then Normalize.
    private float[] Pool(ReadOnlySpan<float> states /*[len, H]*/, int length)
    {
        int h = Dimensions;
        var v = new float[h];
        if (Pooling == EmbeddingPooling.Cls)
        {
            states[..h].CopyTo(v);
        }
        else
        {
            for (int t = 0; t < length; t++) TensorPrimitives.Add(v, states.Slice(t * h, h), v);
            TensorPrimitives.Multiply(v, 1f / length, v);
        }
        if (Normalize)
        {
            // torch.nn.functional.normalize: divide by max(‖v‖, 1e-12).
            float norm = MathF.Max(TensorPrimitives.Norm(v), 1e-12f);
            TensorPrimitives.Multiply(v, 1f / norm, v);
        }
        return v;
    }

    private void WarnTruncated(int index)
    {
        if (Interlocked.Exchange(ref _warned, 1) != 0) return;
        var message = $"{ModelId}: input {index} is longer than {MaxTokens} tokens and was cut (later inputs are cut silently); split long texts into chunks before embedding.";
        if (_options.Warning is { } warn) warn(message);
        else Trace.TraceWarning(message);
    }

    private static string WeightsHash(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _session.Dispose();
            _encoder.Dispose();
        }
    }

    private sealed class QueryView(LocalEmbeddingGenerator owner, bool owns) : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
            CancellationToken cancellationToken = default) => owner.GenerateAsync(values, owner._queryPrefix, options, cancellationToken);

        public object? GetService(Type serviceType, object? serviceKey = null) => owner.GetService(serviceType, serviceKey);

        public void Dispose()
        {
            if (owns) owner.Dispose();
        }
    }
}
