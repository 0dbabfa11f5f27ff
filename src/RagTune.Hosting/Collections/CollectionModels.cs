namespace RagTune.Hosting.Collections;

// What the collection services return: plain records with no server paths in them (document ids are the
// uploaded file names), so a front end can send them as they are.

/// <summary>A collection's counts and sizes; <paramref name="Error"/> when its file cannot be read.</summary>
internal sealed record CollectionInfo(string Name, int Documents, int Chunks, int EmbeddedChunks, long FileBytes, string? EmbeddingModel, string? Error);

/// <summary>An uploaded file as stored: its sanitised name and size.</summary>
internal sealed record StoredUpload(string Name, long Bytes);

/// <summary>A ranked search result; <paramref name="Pages"/> as in <see cref="AskSource"/>.</summary>
internal sealed record SearchResult(int Rank, double Score, string Retriever, long ChunkId, string DocumentId, string Title,
    IReadOnlyList<string> HeadingPath, int Start, int End, string Text, string? Pages);

/// <summary>What an ingestion job did.</summary>
internal sealed record IngestResult(int Added, int Updated, int Unchanged, int Deleted, IReadOnlyList<IngestProblem> Failed,
    int Files, int ChunksWritten, double Seconds);

/// <summary>A file that could not be ingested, and why.</summary>
internal sealed record IngestProblem(string Document, string Reason);

/// <summary>
/// A numbered source of an answer; <paramref name="Cited"/> when a sentence of the answer cites it;
/// <paramref name="Pages"/> where a passage of a paged document (PDF) lies ("p. 4", "pp. 4–5"), null otherwise.
/// </summary>
internal sealed record AskSource(int Number, long ChunkId, string DocumentId, string Title, int Start, int End, string Text, bool Cited, string? Pages);

/// <summary>One answer sentence and its citation check.</summary>
internal sealed record AskSentence(string Text, IReadOnlyList<int> Citations, IReadOnlyList<int> FabricatedCitations, double Support, bool Supported);

/// <summary>
/// A verified answer: <paramref name="Mode"/> says how it was made (a model's name, "extractive" or "abstained");
/// <paramref name="Usage"/> counts the tokens of the model call that produced it (zero when no model was called);
/// <paramref name="FinishReason"/> is why the model stopped in OpenAI's words ("stop", or "length" when max tokens
/// cut the answer; "stop" when no model was called).
/// </summary>
internal sealed record AskResult(string Question, string Answer, string Mode, bool Abstained, IReadOnlyList<AskSentence> Sentences, IReadOnlyList<AskSource> Sources,
    AskUsage Usage, string FinishReason);

/// <summary>
/// Tokens of the model call behind an answer: the grounded prompt (rules, numbered sources, question) and the answer.
/// All zero when no model was called (an abstention before the model, an extractive answer) or the model reported none.
/// </summary>
internal sealed record AskUsage(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>A piece of a streamed answer: text as it arrives, then the verified answer once (<paramref name="Final"/>).</summary>
internal sealed record AskUpdate(string Delta, AskResult? Final);

/// <summary>
/// A cited passage in its document: the document's text and the passage's span in it
/// (<c>Text[Start..End]</c>). When the document's file is no longer readable as ingested,
/// <paramref name="Text"/> is the passage alone and <paramref name="WholeDocument"/> is false.
/// </summary>
internal sealed record Passage(string Collection, long ChunkId, string DocumentId, string Title, string Text, int Start, int End, bool WholeDocument);
