using RagTune.Rag.Store;
using RagTune.Rag.Text;

namespace RagTune.Rag.Tests.Fakes;

/// <summary>Hand-written in-memory store: BM25 over <see cref="Terms"/> and brute-force cosine. Records calls for assertions.</summary>
internal sealed class InMemoryChunkStore : IChunkStore
{
    private readonly Dictionary<string, (DocumentWrite Write, DocumentState State, List<long> ChunkIds)> _docs = new(StringComparer.Ordinal);
    private readonly Dictionary<long, (StoredChunk Chunk, float[]? Vector)> _chunks = [];
    private long _nextId = 1;

    public string Name { get; init; } = "test";
    public EmbeddingInfo? Embedding { get; private set; }
    public List<IReadOnlyList<string>> WrittenBatches { get; } = [];
    public List<IReadOnlyList<string>> DeletedBatches { get; } = [];
    public IReadOnlyCollection<string> DocumentIds => _docs.Keys;

    public SourceDocument Document(string id) => _docs[id].Write.Document;

    public Task<IReadOnlyDictionary<string, DocumentState>> GetDocumentStatesAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyDictionary<string, DocumentState>>(_docs.ToDictionary(p => p.Key, p => p.Value.State));

    public Task WriteBatchAsync(IReadOnlyList<DocumentWrite> batch, EmbeddingInfo? embedding, CancellationToken cancellationToken = default)
    {
        WrittenBatches.Add(batch.Select(w => w.Document.Id).ToList());
        if (embedding != null) Embedding = embedding;
        foreach (var w in batch)
        {
            Remove(w.Document.Id);
            var ids = new List<long>();
            for (var i = 0; i < w.Chunks.Count; i++)
            {
                var id = _nextId++;
                ids.Add(id);
                var sc = new StoredChunk(id, w.Document.Id, w.Document.Source, w.Document.Title, w.Chunks[i], w.Document.Metadata);
                _chunks[id] = (sc, w.Embeddings?[i]);
            }
            _docs[w.Document.Id] = (w, new DocumentState(w.Document.Id, w.Document.Source, w.Document.ContentHash, w.Chunks.Count, DateTimeOffset.UnixEpoch), ids);
        }
        return Task.CompletedTask;
    }

    public Task DeleteDocumentsAsync(IReadOnlyCollection<string> documentIds, CancellationToken cancellationToken = default)
    {
        DeletedBatches.Add(documentIds.ToList());
        foreach (var id in documentIds) Remove(id);
        return Task.CompletedTask;
    }

    private void Remove(string id)
    {
        if (!_docs.Remove(id, out var old)) return;
        foreach (var c in old.ChunkIds) _chunks.Remove(c);
    }

    private IEnumerable<StoredChunk> Filtered(SearchFilter filter) =>
        _chunks.Values.Select(c => c.Chunk).Where(c => filter.Conditions.All(kv => c.Metadata.TryGetValue(kv.Key, out var v) && v == kv.Value)).OrderBy(c => c.ChunkId);

    public Task<IReadOnlyList<SearchHit>> SearchKeywordAsync(string query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
    {
        var q = Terms.ContentSet(query);
        var docs = Filtered(filter).Select(c => (Chunk: c, Terms: Terms.Content(c.Title + " " + c.Chunk.Text))).ToList();
        if (docs.Count == 0 || q.Count == 0) return Task.FromResult<IReadOnlyList<SearchHit>>([]);
        var avg = docs.Average(d => (double)d.Terms.Count);
        var n = docs.Count;
        var scored = new List<(StoredChunk Chunk, double Score)>();
        foreach (var (chunk, terms) in docs)
        {
            double score = 0;
            foreach (var t in q)
            {
                var tf = terms.Count(x => x == t);
                if (tf == 0) continue;
                var df = docs.Count(d => d.Terms.Contains(t));
                var idf = Math.Log(1 + (n - df + 0.5) / (df + 0.5));
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * terms.Count / avg));
            }
            if (score > 0) scored.Add((chunk, score));
        }
        return Task.FromResult<IReadOnlyList<SearchHit>>(scored.OrderByDescending(s => s.Score).ThenBy(s => s.Chunk.ChunkId).Take(k)
            .Select((s, i) => new SearchHit(s.Chunk, s.Score, i + 1, "bm25")).ToList());
    }

    public Task<IReadOnlyList<SearchHit>> SearchVectorAsync(ReadOnlyMemory<float> query, int k, SearchFilter filter, CancellationToken cancellationToken = default)
    {
        var hits = Filtered(filter).Where(c => _chunks[c.ChunkId].Vector != null)
            .Select(c => (Chunk: c, Score: RagTune.Rag.Retrieval.Mmr.Cosine(query.Span, _chunks[c.ChunkId].Vector)))
            .OrderByDescending(s => s.Score).ThenBy(s => s.Chunk.ChunkId).Take(k)
            .Select((s, i) => new SearchHit(s.Chunk, s.Score, i + 1, "dense")).ToList();
        return Task.FromResult<IReadOnlyList<SearchHit>>(hits);
    }

    public Task<TermStatistics> GetTermStatisticsAsync(IReadOnlyCollection<string> terms, CancellationToken cancellationToken = default)
    {
        var chunkTerms = _chunks.Values.Select(c => Terms.ContentSet(c.Chunk.Title + " " + c.Chunk.Chunk.Text)).ToList();
        var frequency = terms.Distinct(StringComparer.Ordinal).ToDictionary(t => t, t => chunkTerms.Count(set => set.Contains(t)), StringComparer.Ordinal);
        return Task.FromResult(new TermStatistics(_chunks.Count, frequency));
    }

    public Task<StoredChunk?> GetChunkAsync(long chunkId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_chunks.TryGetValue(chunkId, out var c) ? c.Chunk : null);

    public Task<IReadOnlyList<StoredChunk>> GetAllChunksAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<StoredChunk>>(_chunks.Values.Select(c => c.Chunk).OrderBy(c => c.DocumentId, StringComparer.Ordinal).ThenBy(c => c.ChunkId).ToList());

    public Task<CollectionStats> GetStatsAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(new CollectionStats(Name, _docs.Count, _chunks.Count, _chunks.Values.Count(c => c.Vector != null), 0, Embedding, 1));

    public void Dispose() { }
}
