using System.Text.Json;
using Microsoft.Extensions.AI;
using RagTune.Rag.Store;

namespace RagTune.Evaluation.Experiments;

/// <summary>A generated question with its answer and the chunk it came from; <see cref="ParaphraseOf"/> names the question it rewords.</summary>
public sealed record QaPair(string Id, string Question, string Answer, long ChunkId, string DocumentId, string Source, string? ParaphraseOf);

/// <summary>What generation kept and why it dropped the rest (reason → count).</summary>
public sealed record QaGenerationResult(IReadOnlyList<QaPair> Pairs, IReadOnlyDictionary<string, int> Dropped, int ChunksSeen);

/// <summary>QA generation settings. Defaults documented per property.</summary>
public sealed record QaGeneratorOptions
{
    /// <summary>Rewordings asked for per kept question. Default 0.</summary>
    public int Paraphrases { get; init; }

    /// <summary>Most chunks used (in store order); null for all. Default null.</summary>
    public int? MaxChunks { get; init; }

    /// <summary>Most tokens per model reply. Default 64.</summary>
    public int MaxTokens { get; init; } = 64;

    /// <summary>Longest chunk text put in the prompt, in characters. Default 1200.</summary>
    public int MaxSourceChars { get; init; } = 1200;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (Paraphrases < 0) throw new ArgumentException($"QaGeneratorOptions.Paraphrases must be zero or more (got {Paraphrases}).");
        if (MaxChunks is < 1) throw new ArgumentException($"QaGeneratorOptions.MaxChunks must be at least 1 (got {MaxChunks}).");
        if (MaxTokens < 8) throw new ArgumentException($"QaGeneratorOptions.MaxTokens must be at least 8 (got {MaxTokens}).");
        if (MaxSourceChars < 100) throw new ArgumentException($"QaGeneratorOptions.MaxSourceChars must be at least 100 (got {MaxSourceChars}).");
    }
}

/// <summary>
/// Makes question/answer pairs from a collection's chunks with a chat model, for users without labels. A pair is kept
/// only when its answer appears in the source chunk (so it is answerable from the documents) and its question does
/// not contain the answer (so it does not give it away); paraphrases are kept under the same rule and must differ from
/// the question. Answers and questions are compared case-insensitively, whitespace collapsed.
/// </summary>
public sealed class QaGenerator(IChatClient chat, QaGeneratorOptions options)
{
    /// <summary>Why a reply was dropped: it has no question and answer lines.</summary>
    public const string DroppedNoPair = "no 'Question:' and 'Answer:' lines in the reply";
    /// <summary>Why a pair was dropped: its answer is not in the source chunk.</summary>
    public const string DroppedAnswerNotInSource = "answer not in the source chunk";
    /// <summary>Why a pair was dropped: its question contains the answer.</summary>
    public const string DroppedGivesAway = "question contains the answer";
    /// <summary>Why a paraphrase was dropped: it repeats the question.</summary>
    public const string DroppedParaphraseSame = "paraphrase repeats the question";
    /// <summary>Why a paraphrase was dropped: it contains the answer.</summary>
    public const string DroppedParaphraseGivesAway = "paraphrase contains the answer";
    /// <summary>Why a paraphrase was dropped: it is empty.</summary>
    public const string DroppedParaphraseEmpty = "paraphrase is empty";

    /// <summary>Generates pairs from <paramref name="chunks"/>, reporting each chunk done; returns the kept pairs and why others were dropped.</summary>
    public async Task<QaGenerationResult> GenerateAsync(IReadOnlyList<StoredChunk> chunks, IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        options.Validate();
        var pairs = new List<QaPair>();
        var dropped = new SortedDictionary<string, int>(StringComparer.Ordinal);
        void Drop(string reason) => dropped[reason] = dropped.GetValueOrDefault(reason) + 1;
        var used = options.MaxChunks is { } max ? chunks.Take(max).ToList() : chunks.ToList();
        var chatOptions = new ChatOptions { Temperature = 0, MaxOutputTokens = options.MaxTokens, Seed = 1 };
        for (int i = 0; i < used.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            progress?.Report(new ExperimentProgress("generate questions", i, used.Count, used[i].Title));
            var c = used[i];
            var text = c.Chunk.Text.Length > options.MaxSourceChars ? c.Chunk.Text[..options.MaxSourceChars] : c.Chunk.Text;
            var reply = await chat.GetResponseAsync([
                new ChatMessage(ChatRole.System, "You write quiz questions about a passage."),
                new ChatMessage(ChatRole.User, $"Passage:\n{text}\n\nWrite one question whose answer is a short phrase copied exactly from the passage. Reply in two lines:\nQuestion: <the question>\nAnswer: <the short answer>"),
            ], chatOptions, ct);
            var (question, answer) = ParsePair(reply.Text ?? "");
            if (question == null || answer == null) { Drop(DroppedNoPair); continue; }
            if (!Contains(c.Chunk.Text, answer)) { Drop(DroppedAnswerNotInSource); continue; }
            if (Contains(question, answer)) { Drop(DroppedGivesAway); continue; }
            var id = $"g{pairs.Count(p => p.ParaphraseOf == null) + 1}";
            pairs.Add(new QaPair(id, question, answer, c.ChunkId, c.DocumentId, c.Chunk.Text, null));
            for (int p = 0; p < options.Paraphrases; p++)
            {
                var rewrite = await chat.GetResponseAsync([
                    new ChatMessage(ChatRole.User, $"Reword this question without changing its meaning (variant {p + 1}). Reply with the reworded question only.\n{question}"),
                ], chatOptions, ct);
                var para = FirstLine(rewrite.Text ?? "");
                if (para.Length == 0) Drop(DroppedParaphraseEmpty);
                else if (Normalize(para) == Normalize(question) || pairs.Any(x => x.ParaphraseOf == id && Normalize(x.Question) == Normalize(para))) Drop(DroppedParaphraseSame);
                else if (Contains(para, answer)) Drop(DroppedParaphraseGivesAway);
                else pairs.Add(new QaPair($"{id}p{p + 1}", para, answer, c.ChunkId, c.DocumentId, c.Chunk.Text, id));
            }
        }
        progress?.Report(new ExperimentProgress("generate questions", used.Count, used.Count));
        return new QaGenerationResult(pairs, dropped, used.Count);
    }

    /// <summary>Reads "Question: …" and "Answer: …" lines (any case, any order); null for a missing one.</summary>
    public static (string? Question, string? Answer) ParsePair(string reply)
    {
        string? q = null, a = null;
        foreach (var raw in reply.Split('\n'))
        {
            var line = raw.Trim();
            if (q == null && line.StartsWith("Question:", StringComparison.OrdinalIgnoreCase)) q = line["Question:".Length..].Trim();
            else if (a == null && line.StartsWith("Answer:", StringComparison.OrdinalIgnoreCase)) a = line["Answer:".Length..].Trim().TrimEnd('.');
        }
        return (string.IsNullOrWhiteSpace(q) ? null : q, string.IsNullOrWhiteSpace(a) ? null : a);
    }

    private static string FirstLine(string text)
    {
        var line = text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
        return line.StartsWith("Question:", StringComparison.OrdinalIgnoreCase) ? line["Question:".Length..].Trim() : line;
    }

    internal static string Normalize(string s) => string.Join(' ', s.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).TrimEnd('?', '.', '!');

    internal static bool Contains(string haystack, string needle) => Normalize(needle) is { Length: > 0 } n && Normalize(haystack).Contains(n, StringComparison.Ordinal);

    /// <summary>Writes the pairs as questions JSONL (each question its own fact, paraphrases joining theirs) with the source chunk.</summary>
    public static void Write(string path, IEnumerable<QaPair> pairs)
    {
        using var w = new StreamWriter(path);
        foreach (var p in pairs)
        {
            var o = new Dictionary<string, object?> { ["id"] = p.Id, ["question"] = p.Question, ["answer"] = p.Answer, ["fact"] = p.ParaphraseOf ?? p.Id };
            if (p.ParaphraseOf != null) o["paraphrase_of"] = p.ParaphraseOf;
            o["doc"] = p.DocumentId;
            o["chunk"] = p.ChunkId;
            o["source"] = p.Source;
            w.WriteLine(JsonSerializer.Serialize(o));
        }
    }

    /// <summary>The pairs as experiment questions (fact = the original question's id).</summary>
    public static List<ExperimentQuestion> ToQuestions(IEnumerable<QaPair> pairs) =>
        pairs.Select(p => new ExperimentQuestion(p.Id, p.ParaphraseOf ?? p.Id, p.Question, [p.Answer], p.ParaphraseOf != null, true, p.DocumentId, p.Source)).ToList();
}
