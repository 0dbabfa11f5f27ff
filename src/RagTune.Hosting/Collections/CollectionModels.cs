using RagTune.Rag.Answering;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Collections;

// The one set of result records: the CLI's --json, the server's API and the MCP tools all send these (each in its
// own naming policy). Where results leave the machine they carry no paths (document ids are the uploaded file
// names), so a front end can send them as they are.

/// <summary>
/// A collection's counts and sizes. <paramref name="Location"/> is where the store keeps it (a SQLite collection's
/// file), null where results leave the machine (the server sends no paths); <paramref name="Error"/> when it cannot
/// be read.
/// </summary>
public sealed record CollectionInfo(string Name, int Documents, int Chunks, int EmbeddedChunks, long FileBytes, string? EmbeddingModel, int SchemaVersion,
    string? Location, string? Error)
{
    /// <summary>The row for a readable collection's <paramref name="s"/>, kept at <paramref name="location"/> (null where results leave the machine).</summary>
    public static CollectionInfo From(CollectionStats s, string? location) =>
        new(s.Name, s.Documents, s.Chunks, s.EmbeddedChunks, s.FileBytes, s.Embedding?.ModelId, s.SchemaVersion, location, null);

    /// <summary>A listed collection whose stats cannot be read (not ours, or from a newer RagTune): <paramref name="error"/> says why.</summary>
    public static CollectionInfo Unreadable(string name, string error) => new(name, 0, 0, 0, 0, null, 0, null, error);
}

/// <summary>An uploaded file as stored: its sanitised name and size.</summary>
public sealed record StoredUpload(string Name, long Bytes);

/// <summary>
/// A ranked search result: where the chunk is (document, source, span, and <paramref name="Pages"/> as in
/// <see cref="AskSource"/>) and its text. <paramref name="Source"/> is the stored source path, or the document id
/// where results leave the machine.
/// </summary>
public sealed record SearchResult(int Rank, double Score, string Retriever, long ChunkId, string DocumentId, string Source, string Title,
    IReadOnlyList<string> HeadingPath, int Start, int End, string Text, string? Pages)
{
    /// <summary>The result for hit <paramref name="h"/>; the stored source path only when <paramref name="showPaths"/>, else the document id.</summary>
    public static SearchResult From(SearchHit h, bool showPaths)
    {
        var c = h.Chunk;
        return new(h.Rank, h.Score, h.Retriever, c.ChunkId, c.DocumentId, showPaths ? c.Source : c.DocumentId, c.Title,
            c.Chunk.HeadingPath, c.Chunk.Start, c.Chunk.End, c.Chunk.Text, c.Pages);
    }
}

/// <summary>What a search found: the collection, the query, the mode used (bm25, dense or hybrid) and the ranked passages.</summary>
public sealed record SearchResponse(string Collection, string Query, string Mode, IReadOnlyList<SearchResult> Passages);

/// <summary>What an ingestion job did.</summary>
internal sealed record IngestResult(int Added, int Updated, int Unchanged, int Deleted, IReadOnlyList<IngestProblem> Failed,
    int Files, int ChunksWritten, double Seconds);

/// <summary>A file that could not be ingested, and why.</summary>
internal sealed record IngestProblem(string Document, string Reason);

/// <summary>
/// A numbered source of an answer; <paramref name="Cited"/> when a sentence of the answer cites it;
/// <paramref name="Source"/> as in <see cref="SearchResult"/>; <paramref name="Pages"/> where a passage of a paged
/// document (PDF) lies ("p. 4", "pp. 4–5"), null otherwise.
/// </summary>
public sealed record AskSource(int Number, long ChunkId, string DocumentId, string Source, string Title, int Start, int End, string Text, bool Cited, string? Pages);

/// <summary>One answer sentence and its citation check.</summary>
public sealed record AskSentence(string Text, IReadOnlyList<int> Citations, IReadOnlyList<int> FabricatedCitations, double Support, bool Supported);

/// <summary>
/// A verified answer: <paramref name="Mode"/> says how it was made (the model's name, "model" when it has none,
/// "extractive" or "abstained"); <paramref name="Citations"/> are the source numbers the answer cites, in order;
/// <paramref name="Usage"/> counts the tokens of the model call that produced it (zero when no model was called);
/// <paramref name="FinishReason"/> is why the model stopped in OpenAI's words ("stop", or "length" when max tokens
/// cut the answer; "stop" when no model was called).
/// </summary>
public sealed record AskResult(string Question, string Answer, string Mode, bool Abstained, IReadOnlyList<int> Citations, IReadOnlyList<AskSentence> Sentences,
    IReadOnlyList<AskSource> Sources, AskUsage Usage, string FinishReason)
{
    /// <summary>The record of a verified answer; <paramref name="model"/> names the model in <see cref="Mode"/>; <paramref name="showPaths"/> as in <see cref="SearchResult"/>.</summary>
    public static AskResult From(string question, GroundedAnswer a, string? model, bool showPaths)
    {
        var cited = a.Sentences.SelectMany(s => s.Citations).Distinct().Order().ToList();
        int prompt = (int)(a.Usage?.InputTokenCount ?? 0), completion = (int)(a.Usage?.OutputTokenCount ?? 0);
        return new AskResult(question, a.Text, a.Mode == "model" ? model ?? "model" : a.Mode, a.Abstained, cited,
            [.. a.Sentences.Select(s => new AskSentence(s.Text, s.Citations, s.FabricatedCitations, s.Support, s.Supported))],
            [.. a.Sources.Select(s => new AskSource(s.Number, s.ChunkId, s.DocumentId, showPaths ? s.Source : s.DocumentId, s.Title, s.Start, s.End, s.Text,
                cited.Contains(s.Number), s.Pages))],
            new AskUsage(prompt, completion, (int)(a.Usage?.TotalTokenCount ?? prompt + completion)),
            // M.E.AI's finish reasons carry OpenAI's words ("stop", "length", "content_filter", "tool_calls").
            a.FinishReason?.Value ?? "stop");
    }
}

/// <summary>
/// Tokens of the model call behind an answer: the grounded prompt (rules, numbered sources, question) and the answer.
/// All zero when no model was called (an abstention before the model, an extractive answer) or the model reported none.
/// </summary>
public sealed record AskUsage(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>A piece of a streamed answer: text as it arrives, then the verified answer once (<paramref name="Final"/>).</summary>
public sealed record AskUpdate(string Delta, AskResult? Final);

/// <summary>
/// A cited passage in its document: the document's text and the passage's span in it
/// (<c>Text[Start..End]</c>). When the document's file is no longer readable as ingested,
/// <paramref name="Text"/> is the passage alone and <paramref name="WholeDocument"/> is false.
/// </summary>
public sealed record Passage(string Collection, long ChunkId, string DocumentId, string Title, string Text, int Start, int End, bool WholeDocument);
