using RagTune.Engine.Encoders;
using RagTune.Tokenizers;

namespace RagTune.Models.Embeddings;

/// <summary>
/// A local cross-encoder reranker: BERT with a sequence-classification head and one output (the ms-marco MiniLM
/// layout, <c>BertForSequenceClassification</c>, <c>num_labels = 1</c>) scoring <c>[CLS] query [SEP] passage [SEP]</c>
/// pairs. Higher scores mean more relevant; scores are raw logits (apply a sigmoid for a 0..1 value). Pairs longer
/// than <see cref="MaxTokens"/> are cut longest-first. One request runs at a time; concurrent callers wait.
/// </summary>
/// <remarks>
/// RagTune.Models may not reference RagTune.Rag, so the adapter to <c>RagTune.Rag.Retrieval.IReranker</c> belongs
/// in the composing layer (RagTune.Hosting; the CLI until it exists): it orders hits by <see cref="ScoreAsync"/>.
/// </remarks>
public sealed class LocalCrossEncoder : IDisposable
{
    private readonly BertEncoder _encoder;
    private readonly BertSession _session;
    private readonly WordPieceTokenizer _tokenizer;
    private readonly object _gate = new();
    private readonly int _batchSize;

    private LocalCrossEncoder(BertEncoder encoder, WordPieceTokenizer tokenizer, int maxTokens, int batchSize, int threads)
    {
        _encoder = encoder;
        _tokenizer = tokenizer;
        MaxTokens = maxTokens;
        _batchSize = batchSize;
        _session = new BertSession(encoder, threads: threads);
    }

    /// <summary>Longest pair in tokens, special tokens included.</summary>
    public int MaxTokens { get; }

    /// <summary>Loads a cross-encoder folder (config.json with BertForSequenceClassification, model.safetensors, tokenizer).</summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="maxTokens">Pair length limit; null uses the model's positions (512).</param>
    /// <param name="batchSize">Pairs per forward pass.</param>
    /// <param name="threads">Compute threads; 0 = one per processor.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="EmbeddingModelException">The checkpoint has no single-output classification head.</exception>
    public static LocalCrossEncoder Load(string folder, int? maxTokens = null, int batchSize = 16, int threads = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (maxTokens is < 3) throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "A pair needs at least 3 tokens ([CLS] [SEP] [SEP]).");
        var tokenizer = WordPieceTokenizer.FromFolder(folder);
        var encoder = BertEncoder.Load(folder);
        try
        {
            if (encoder.Config.NumLabels != 1 || !encoder.HasPooler)
                throw new EmbeddingModelException($"{folder}: a cross-encoder needs BertForSequenceClassification with one label and a pooler (ms-marco MiniLM layout); this checkpoint has {encoder.Config.NumLabels} labels.");
            return new LocalCrossEncoder(encoder, tokenizer, Math.Min(maxTokens ?? encoder.Config.MaxPositions, encoder.Config.MaxPositions), batchSize, threads);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    /// <summary>Scores each of <paramref name="passages"/> against <paramref name="query"/>; result i belongs to passage i.</summary>
    public Task<float[]> ScoreAsync(string query, IReadOnlyList<string> passages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(passages);
        var scores = new float[passages.Count];
        lock (_gate)
        {
            for (int start = 0; start < passages.Count; start += _batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(_batchSize, passages.Count - start);
                var pairs = new WordPieceEncoding[n];
                for (int b = 0; b < n; b++)
                    pairs[b] = _tokenizer.EncodePair(query, passages[start + b] ?? throw new ArgumentException($"Passage {start + b} is null.", nameof(passages)), MaxTokens);
                _session.Classify(scores.AsSpan(start, n), pairs.SelectMany(p => p.Ids).ToArray(), pairs.SelectMany(p => p.TypeIds).ToArray(),
                    pairs.Select(p => p.Ids.Length).ToArray());
            }
        }
        return Task.FromResult(scores);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _session.Dispose();
            _encoder.Dispose();
        }
    }
}
