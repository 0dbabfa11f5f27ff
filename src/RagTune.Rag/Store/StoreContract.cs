namespace RagTune.Rag.Store;

// The contract between the RAG pipeline (RagTune.Rag) and its stores (RagTune.Rag.Sqlite now, PostgreSQL later).
// Stores keep documents, chunks, a keyword index and embeddings; they never call models.

/// <summary>A source document after reading and normalisation.</summary>
/// <param name="Id">Stable id: the path relative to the ingest root, or the value of the id field for JSON/CSV records.</param>
/// <param name="Source">Where it came from (file path, with "#record" for records inside a JSON/CSV file).</param>
/// <param name="Title">Title (first heading, HTML title, title field, or file name).</param>
/// <param name="Text">Normalised text; chunk offsets point into this string.</param>
/// <param name="ContentHash">sha256 (hex) of <paramref name="Text"/> plus title: re-ingest skips a document whose hash is unchanged.</param>
/// <param name="Metadata">Key/value metadata used by search filters (e.g. "ext" = "md", fields of a record).</param>
public sealed record SourceDocument(string Id, string Source, string Title, string Text, string ContentHash, IReadOnlyDictionary<string, string> Metadata);

/// <summary>A piece of a document, with its exact place in the document's text.</summary>
/// <param name="Index">Position of the chunk in its document, from 0.</param>
/// <param name="Text">The chunk's text.</param>
/// <param name="Start">Start offset (UTF-16 chars) into <see cref="SourceDocument.Text"/>, inclusive.</param>
/// <param name="End">End offset, exclusive: <c>Text[Start..End]</c> equals <paramref name="Text"/>.</param>
/// <param name="HeadingPath">Headings enclosing the chunk, outermost first.</param>
/// <param name="TokenCount">Approximate token count used for sizing.</param>
public sealed record Chunk(int Index, string Text, int Start, int End, IReadOnlyList<string> HeadingPath, int TokenCount);

/// <summary>One document and its chunks (and their embeddings, when an embedding model is configured) to write.</summary>
/// <param name="Document">The document.</param>
/// <param name="Chunks">Its chunks, in order.</param>
/// <param name="Embeddings">One vector per chunk, or null for BM25-only collections.</param>
public sealed record DocumentWrite(SourceDocument Document, IReadOnlyList<Chunk> Chunks, IReadOnlyList<float[]>? Embeddings)
{
    /// <summary>
    /// What every store checks before it writes <paramref name="batch"/>: each document once, and embeddings (when
    /// given) one per chunk, of <paramref name="embedding"/>'s dimensions. Throws <see cref="ArgumentException"/>.
    /// </summary>
    public static void ValidateBatch(IReadOnlyList<DocumentWrite> batch, EmbeddingInfo? embedding)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var w in batch)
        {
            if (!ids.Add(w.Document.Id)) throw new ArgumentException($"Document '{w.Document.Id}' appears twice in one batch.", nameof(batch));
            if (w.Embeddings is null) continue;
            if (embedding is null) throw new ArgumentException($"Document '{w.Document.Id}' has embeddings but no EmbeddingInfo was given.", nameof(embedding));
            if (w.Embeddings.Count != w.Chunks.Count)
                throw new ArgumentException($"Document '{w.Document.Id}' has {w.Chunks.Count} chunks but {w.Embeddings.Count} embeddings.", nameof(batch));
            foreach (var v in w.Embeddings)
                if (v.Length != embedding.Dimensions)
                    throw new ArgumentException($"Document '{w.Document.Id}' has a {v.Length}-dimensional embedding; '{embedding.ModelId}' makes {embedding.Dimensions}.", nameof(batch));
        }
    }
}

/// <summary>What the store remembers of a document (for incremental re-ingest).</summary>
public sealed record DocumentState(string Id, string Source, string ContentHash, int ChunkCount, DateTimeOffset UpdatedAt);

/// <summary>A chunk as stored, with its document's identity.</summary>
public sealed record StoredChunk(long ChunkId, string DocumentId, string Source, string Title, Chunk Chunk, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>
    /// The pages the chunk lies on ("p. 4", "pp. 4–5"), from the page offsets a paged document (PDF) keeps in its
    /// metadata; null for documents without pages.
    /// </summary>
    public string? Pages => Ingestion.PdfPages.Label(Metadata, Chunk.Start, Chunk.End);
}

/// <summary>A ranked retrieval result. Higher <paramref name="Score"/> is better; scores are only comparable within one retriever.</summary>
public sealed record SearchHit(StoredChunk Chunk, double Score, int Rank, string Retriever);

/// <summary>Metadata equality filters, all of which must hold (<c>--filter key=value</c>).</summary>
public sealed record SearchFilter(IReadOnlyDictionary<string, string> Conditions)
{
    /// <summary>No conditions: every chunk matches.</summary>
    public static SearchFilter None { get; } = new(new Dictionary<string, string>());
}

/// <summary>Which embedding model made a collection's vectors; a query with another model is refused.</summary>
public sealed record EmbeddingInfo(string ModelId, int Dimensions);

/// <summary>
/// How many of a collection's chunks hold each of some terms, as its keyword index analyses words (with its own
/// stemming): the document frequencies an IDF weight needs.
/// </summary>
/// <param name="Chunks">Chunks in the collection.</param>
/// <param name="ChunkFrequency">Per term asked for: the chunks holding it (0 for a term the collection never uses).</param>
public sealed record TermStatistics(int Chunks, IReadOnlyDictionary<string, int> ChunkFrequency)
{
    /// <summary>
    /// BM25's IDF of <paramref name="term"/>: ln(1 + (N − df + 0.5) / (df + 0.5)), N the chunks and df the chunks
    /// holding it, counted as at least 1: a word the collection never uses ("yearly" in a question worded apart
    /// from the documents) is no more specific than one it uses once, so it cannot outweigh the rare word a source
    /// does share with the question.
    /// </summary>
    public double Idf(string term)
    {
        if (Chunks < 1) return 1; // an empty collection tells nothing: every term weighs the same
        var df = Math.Clamp(ChunkFrequency.GetValueOrDefault(term), 1, Chunks);
        return Math.Log(1 + (Chunks - df + 0.5) / (df + 0.5));
    }
}

/// <summary>Counts and sizes of a collection.</summary>
public sealed record CollectionStats(string Name, int Documents, int Chunks, int EmbeddedChunks, long FileBytes, EmbeddingInfo? Embedding, int SchemaVersion);

/// <summary>
/// A collection's storage. Every <see cref="WriteBatchAsync"/> is one transaction: a process killed midway leaves
/// the collection exactly as it was before that batch.
/// </summary>
public interface IChunkStore : IDisposable
{
    /// <summary>The collection's name.</summary>
    string Name { get; }

    /// <summary>The embedding model of the stored vectors, or null when none are stored yet.</summary>
    EmbeddingInfo? Embedding { get; }

    /// <summary>The state of every stored document (source, content hash, chunk count, last update) by id, for incremental ingestion.</summary>
    Task<IReadOnlyDictionary<string, DocumentState>> GetDocumentStatesAsync(CancellationToken cancellationToken = default);

    /// <summary>Upserts the documents: each one's previous chunks and vectors are replaced. One transaction.</summary>
    Task WriteBatchAsync(IReadOnlyList<DocumentWrite> batch, EmbeddingInfo? embedding, CancellationToken cancellationToken = default);

    /// <summary>Removes documents with their chunks and vectors. One transaction.</summary>
    Task DeleteDocumentsAsync(IReadOnlyCollection<string> documentIds, CancellationToken cancellationToken = default);

    /// <summary>BM25 keyword search (best first).</summary>
    Task<IReadOnlyList<SearchHit>> SearchKeywordAsync(string query, int k, SearchFilter filter, CancellationToken cancellationToken = default);

    /// <summary>Exact nearest neighbours by cosine similarity (best first).</summary>
    Task<IReadOnlyList<SearchHit>> SearchVectorAsync(ReadOnlyMemory<float> query, int k, SearchFilter filter, CancellationToken cancellationToken = default);

    /// <summary>The chunk count and, for each of <paramref name="terms"/>, how many chunks hold it (see <see cref="TermStatistics"/>).</summary>
    Task<TermStatistics> GetTermStatisticsAsync(IReadOnlyCollection<string> terms, CancellationToken cancellationToken = default);

    /// <summary>The chunk with <paramref name="chunkId"/>, or null when there is none.</summary>
    Task<StoredChunk?> GetChunkAsync(long chunkId, CancellationToken cancellationToken = default);

    /// <summary>Every chunk, in document order then chunk order (for QA generation and training on the documents).</summary>
    Task<IReadOnlyList<StoredChunk>> GetAllChunksAsync(CancellationToken cancellationToken = default);

    /// <summary>The collection's counts and sizes.</summary>
    Task<CollectionStats> GetStatsAsync(CancellationToken cancellationToken = default);
}
