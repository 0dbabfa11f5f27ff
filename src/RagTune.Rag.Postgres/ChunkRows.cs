using System.Text.Json;
using Npgsql;
using Pgvector;
using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres;

/// <summary>
/// The rows one batch adds (chunks, their BM25 postings, their vectors), gathered into column arrays and written with
/// one <c>INSERT … SELECT FROM unnest(…)</c> per table: three round trips per batch instead of one per row.
/// </summary>
internal sealed class ChunkRows(int capacity)
{
    private readonly List<long> _ids = new(capacity);
    private readonly List<string> _docs = new(capacity);
    private readonly List<int> _idx = new(capacity), _start = new(capacity), _end = new(capacity), _tokens = new(capacity);
    private readonly List<int> _titleTokens = new(capacity), _textTokens = new(capacity);
    private readonly List<string> _text = new(capacity), _headings = new(capacity);
    private readonly List<long> _postChunk = [];
    private readonly List<string> _postTerm = [];
    private readonly List<int> _postTitle = [], _postText = [];
    private readonly List<long> _vecChunk = [];
    private readonly List<Vector> _vectors = [];

    public void Add(long id, SourceDocument doc, Chunk chunk, float[]? vector)
    {
        _ids.Add(id);
        _docs.Add(doc.Id);
        _idx.Add(chunk.Index);
        _text.Add(chunk.Text);
        _start.Add(chunk.Start);
        _end.Add(chunk.End);
        _headings.Add(JsonSerializer.Serialize(chunk.HeadingPath));
        _tokens.Add(chunk.TokenCount);
        // The title field is what the SQLite store's FTS5 title column indexes: the document title, then each heading.
        var title = Fts5Tokens.Tokenize(chunk.HeadingPath.Count == 0 ? doc.Title : doc.Title + " \n " + string.Join(" \n ", chunk.HeadingPath));
        var text = Fts5Tokens.Tokenize(chunk.Text);
        _titleTokens.Add(title.Count);
        _textTokens.Add(text.Count);
        var tf = new Dictionary<string, (int Title, int Text)>(StringComparer.Ordinal);
        foreach (var t in title) tf[t] = tf.TryGetValue(t, out var f) ? (f.Title + 1, f.Text) : (1, 0);
        foreach (var t in text) tf[t] = tf.TryGetValue(t, out var f) ? (f.Title, f.Text + 1) : (0, 1);
        foreach (var (term, (ti, te)) in tf)
        {
            _postChunk.Add(id);
            _postTerm.Add(term);
            _postTitle.Add(ti);
            _postText.Add(te);
        }
        if (vector != null)
        {
            _vecChunk.Add(id);
            _vectors.Add(new Vector(vector));
        }
    }

    public async Task WriteAsync(NpgsqlConnection c, NpgsqlTransaction tx, string schema, CancellationToken ct)
    {
        await using (var chunks = new NpgsqlCommand($"""
            INSERT INTO {schema}.chunks(id, document_id, idx, text, start, "end", heading_path, token_count, title_tokens, text_tokens)
            SELECT id, doc, idx, text, s, e, h::jsonb, tok, tt, xt
            FROM unnest(@id, @doc, @idx, @text, @s, @e, @h, @tok, @tt, @xt) AS t(id, doc, idx, text, s, e, h, tok, tt, xt)
            """, c, tx))
        {
            chunks.Parameters.AddWithValue("id", _ids.ToArray());
            chunks.Parameters.AddWithValue("doc", _docs.ToArray());
            chunks.Parameters.AddWithValue("idx", _idx.ToArray());
            chunks.Parameters.AddWithValue("text", _text.ToArray());
            chunks.Parameters.AddWithValue("s", _start.ToArray());
            chunks.Parameters.AddWithValue("e", _end.ToArray());
            chunks.Parameters.AddWithValue("h", _headings.ToArray());
            chunks.Parameters.AddWithValue("tok", _tokens.ToArray());
            chunks.Parameters.AddWithValue("tt", _titleTokens.ToArray());
            chunks.Parameters.AddWithValue("xt", _textTokens.ToArray());
            await chunks.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        if (_postChunk.Count > 0)
        {
            await using var postings = new NpgsqlCommand($"""
                INSERT INTO {schema}.postings(term, chunk_id, title_tf, text_tf) SELECT * FROM unnest(@term, @chunk, @ti, @te)
                """, c, tx);
            postings.Parameters.AddWithValue("term", _postTerm.ToArray());
            postings.Parameters.AddWithValue("chunk", _postChunk.ToArray());
            postings.Parameters.AddWithValue("ti", _postTitle.ToArray());
            postings.Parameters.AddWithValue("te", _postText.ToArray());
            await postings.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        if (_vecChunk.Count > 0)
        {
            await using var vectors = new NpgsqlCommand($"INSERT INTO {schema}.vectors(chunk_id, embedding) SELECT * FROM unnest(@chunk, @v)", c, tx);
            vectors.Parameters.AddWithValue("chunk", _vecChunk.ToArray());
            vectors.Parameters.AddWithValue("v", _vectors.ToArray());
            await vectors.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }
}
