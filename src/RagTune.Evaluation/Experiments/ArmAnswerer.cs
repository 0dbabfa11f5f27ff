using System.Diagnostics;
using Microsoft.Extensions.AI;
using RagTune.Rag.Answering;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// Asks one arm's model the questions: closed book (the question alone, as the fine-tuned arms were trained to be
/// asked) or through the RAG pipeline (retrieve, then <see cref="GroundedAnswerer"/> with numbered sources). Every
/// arm answers greedily with the same settings, so differences are the method's.
/// </summary>
internal sealed class ArmAnswerer(IChunkStore store, Retriever retriever, SearchMode mode, int topK, int maxTokens, string systemMessage)
{
    /// <summary>Longest source text in a RAG prompt (and in the RAFT examples, so training sees what serving shows).</summary>
    public const int MaxSourceChars = 1000;

    private ChatOptions Options => new() { Temperature = 0, MaxOutputTokens = maxTokens, Seed = 1 };

    public async Task<List<RawAnswer>> AnswerAsync(string arm, IChatClient chat, IReadOnlyList<ExperimentQuestion> questions,
        IProgress<ExperimentProgress>? progress, string stage, CancellationToken ct)
    {
        using var metered = new MeteredChatClient(chat);
        // One unmeasured answer first: the first call of a model pays for JIT compilation and cold caches (measured
        // here: 3-5x the prompt time of later calls), which would otherwise be billed to whichever arm runs first
        // and decide a recommendation that ranks arms the data cannot tell apart by their cost.
        if (questions.Count > 0)
            _ = ArmNames.Retrieves(arm) ? await RagAsync(metered, questions[0], ct) : await ClosedBookAsync(metered, questions[0], ct);
        var answers = new List<RawAnswer>(questions.Count);
        for (int i = 0; i < questions.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            progress?.Report(new ExperimentProgress(stage, i, questions.Count, questions[i].Text));
            answers.Add(ArmNames.Retrieves(arm) ? await RagAsync(metered, questions[i], ct) : await ClosedBookAsync(metered, questions[i], ct));
        }
        progress?.Report(new ExperimentProgress(stage, questions.Count, questions.Count));
        return answers;
    }

    private async Task<RawAnswer> ClosedBookAsync(MeteredChatClient chat, ExperimentQuestion q, CancellationToken ct)
    {
        chat.Reset();
        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, q.Text)], Options, ct);
        var text = (response.Text ?? "").Trim();
        var m = chat.Last;
        return new RawAnswer(q.Id, text, IsAbstention(text), [], [], 0, m.PromptMs, m.GenerationMs, m.PromptTokens, m.CompletionTokens);
    }

    private async Task<RawAnswer> RagAsync(MeteredChatClient chat, ExperimentQuestion q, CancellationToken ct)
    {
        chat.Reset();
        var sw = Stopwatch.StartNew();
        var hits = await retriever.SearchAsync(q.Text, mode, topK, SearchFilter.None, ct);
        double retrievalMs = sw.Elapsed.TotalMilliseconds;
        var answerer = new GroundedAnswerer(chat, new AnswererOptions { MaxSources = topK, MaxSourceChars = MaxSourceChars, SystemMessage = systemMessage, ChatOptions = Options });
        var answer = await answerer.AnswerAsync(q.Text, hits, await GroundedAnswerer.StatisticsAsync(store, q.Text, ct), ct);
        var m = chat.Last;
        var retrieved = hits.Select(h => h.Chunk.DocumentId).Distinct(StringComparer.Ordinal).ToList();
        var shown = answer.Sources.Select(s => new ShownPassage(s.Number, s.DocumentId, s.ChunkId, s.Text)).ToList();
        return new RawAnswer(q.Id, answer.Text, answer.Abstained, retrieved, shown, retrievalMs, m.PromptMs, m.GenerationMs, m.PromptTokens, m.CompletionTokens);
    }

    /// <summary>The RAG abstention sentence, or a plain "I don't know" from a closed-book model.</summary>
    public static bool IsAbstention(string text) =>
        CitationVerifier.IsAbstention(text) || text.StartsWith("I don't know", StringComparison.OrdinalIgnoreCase) || text.StartsWith("I do not know", StringComparison.OrdinalIgnoreCase);
}
