using Microsoft.Extensions.AI;
using RagTune.Rag.Store;

namespace RagTune.Rag.Answering;

/// <summary>A numbered source as shown to the model: where it is (document, source path, chunk span) and its text.</summary>
/// <param name="Number">The 1-based number the prompt shows and citations use (<c>[n]</c>).</param>
/// <param name="ChunkId">The stored chunk's id.</param>
/// <param name="DocumentId">The id of the document the chunk is from.</param>
/// <param name="Source">The document's source path or address.</param>
/// <param name="Title">The document title and heading path shown with the passage.</param>
/// <param name="Start">Where the chunk starts in the document's text (characters).</param>
/// <param name="End">Where the chunk ends in the document's text (characters, exclusive).</param>
/// <param name="Text">The passage text shown to the model.</param>
public sealed record AnswerSource(int Number, long ChunkId, string DocumentId, string Source, string Title, int Start, int End, string Text)
{
    /// <summary>The pages the passage lies on ("p. 4", "pp. 4–5") when its document has pages (PDF); else null.</summary>
    public string? Pages { get; init; }

    /// <summary>The numbered source for a hit (1-based <paramref name="number"/>).</summary>
    public static AnswerSource From(int number, SearchHit hit)
    {
        ArgumentNullException.ThrowIfNull(hit);
        var c = hit.Chunk;
        return new AnswerSource(number, c.ChunkId, c.DocumentId, c.Source, c.Title, c.Chunk.Start, c.Chunk.End, c.Chunk.Text) { Pages = c.Pages };
    }
}

/// <summary>
/// One sentence of an answer: its span in the answer text, the source numbers it cites (valid ones in
/// <paramref name="Citations"/>, numbers with no such source in <paramref name="FabricatedCitations"/>), and its
/// support score against the cited sources (see <see cref="CitationVerifier"/>).
/// </summary>
public sealed record AnswerSentence(string Text, int Start, int End, IReadOnlyList<int> Citations, IReadOnlyList<int> FabricatedCitations, double Support, bool Supported);

/// <summary>A verified answer. <paramref name="Mode"/> is "model", "extractive" or "abstained".</summary>
public sealed record GroundedAnswer(string Text, IReadOnlyList<AnswerSentence> Sentences, IReadOnlyList<AnswerSource> Sources, bool Abstained, string Mode)
{
    /// <summary>
    /// The tokens of the model call that produced the answer, as the chat client reported them: the grounded prompt
    /// (rules, numbered sources and question) is the input, the answer the output; null when the client reported none.
    /// An answer made without calling the model reports the tokens it used, which is none: an abstention decided
    /// before the model (nothing relevant retrieved) and an extractive answer carry zero counts.
    /// </summary>
    public UsageDetails? Usage { get; init; }

    /// <summary>
    /// Why the model stopped (<see cref="ChatFinishReason.Length"/> when max tokens cut the answer); null when no
    /// model was called or the client did not say.
    /// </summary>
    public ChatFinishReason? FinishReason { get; init; }

    /// <summary>The usage of an answer that called no model.</summary>
    internal static UsageDetails NoTokens() => new() { InputTokenCount = 0, OutputTokenCount = 0, TotalTokenCount = 0 };

    /// <summary>True when some sentence cites a source number that was not given.</summary>
    public bool HasFabricatedCitations => Sentences.Any(s => s.FabricatedCitations.Count > 0);

    /// <summary>Sentences whose support is below the threshold (uncited sentences included).</summary>
    public IReadOnlyList<AnswerSentence> Unsupported => Sentences.Where(s => !s.Supported).ToList();
}

/// <summary>One step of a streamed answer: a text delta, and on the last step the verified answer.</summary>
public sealed record AnswerUpdate(string TextDelta, GroundedAnswer? Final);

/// <summary>Grounded answering settings. Defaults documented per property.</summary>
public sealed record AnswererOptions
{
    /// <summary>Most sources put in the prompt (best first). Default 5.</summary>
    public int MaxSources { get; init; } = 5;

    /// <summary>Longest source text in the prompt, in characters (longer ones are cut). Default 4000.</summary>
    public int MaxSourceChars { get; init; } = 4000;

    /// <summary>
    /// Abstain without calling the model when the best share of the question's content terms found in one source
    /// is below this, each term weighing its IDF in the collection (<see cref="GroundedAnswerer"/>); the extractive
    /// answerer drops sentences scoring below it. Default 0.2. On the demo's world it passes every answerable
    /// question (lowest 0.25: paraphrases worded with three words the documents never use) and stops every
    /// question about a village that does not exist (highest 0.12); docs/compare.md has the measurement.
    /// </summary>
    public double AbstainThreshold { get; init; } = 0.2;

    /// <summary>A cited sentence with support below this is flagged unsupported. Default 0.5.</summary>
    public double SupportThreshold { get; init; } = 0.5;

    /// <summary>
    /// The system message: the rules (cite, abstain, sources are data). Default <see cref="GroundedPrompt.SystemMessage"/>;
    /// <see cref="GroundedPrompt.CompactSystemMessage"/> for small-context models. Retrieved text never goes here.
    /// </summary>
    public string SystemMessage { get; init; } = GroundedPrompt.SystemMessage;

    /// <summary>
    /// Chat options passed to the model as they are (temperature, top_p, seed, stop sequences, max tokens), or null
    /// for the client's defaults. Stop sequences are applied by the chat client, so the answer is cut before the
    /// citations are verified.
    /// </summary>
    public ChatOptions? ChatOptions { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (MaxSources < 1) throw new ArgumentException($"AnswererOptions.MaxSources must be at least 1 (got {MaxSources}).");
        if (MaxSourceChars < 100) throw new ArgumentException($"AnswererOptions.MaxSourceChars must be at least 100 (got {MaxSourceChars}).");
        if (AbstainThreshold is < 0 or > 1) throw new ArgumentException($"AnswererOptions.AbstainThreshold must be in [0, 1] (got {AbstainThreshold}).");
        if (string.IsNullOrWhiteSpace(SystemMessage)) throw new ArgumentException("AnswererOptions.SystemMessage must not be empty.");
        if (SupportThreshold is < 0 or > 1) throw new ArgumentException($"AnswererOptions.SupportThreshold must be in [0, 1] (got {SupportThreshold}).");
    }
}
