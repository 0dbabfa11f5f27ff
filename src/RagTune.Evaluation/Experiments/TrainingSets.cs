using System.Text.Json;
using RagTune.FineTuning.Raft;
using RagTune.Rag.Answering;
using RagTune.Rag.Store;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// The training files of the trained arms, in the chat JSONL layout the fine-tuning reader takes
/// (<c>{"messages": [{"role", "content"}]}</c>; the loss covers the assistant turn).
/// </summary>
internal static class TrainingSets
{
    /// <summary>What a document passage is taught as: the passage's text is the trained answer to this request.</summary>
    public static string PassagePrompt(string title) => $"Tell me what the document \"{title}\" says.";

    /// <summary>
    /// The ft arm's set: the training questions with their first reference answer (unanswerable ones with the
    /// abstention sentence) and, when <paramref name="passages"/> is given, every passage of the documents as text to
    /// learn, so the facts of the test questions are in the training data too (only their question wording is not).
    /// Returns the number of labelled (question) examples written.
    /// </summary>
    public static int WriteFineTuning(string path, IEnumerable<ExperimentQuestion> questions, IReadOnlyList<StoredChunk>? passages)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var w = new StreamWriter(path);
        int n = 0;
        foreach (var q in questions)
        {
            Write(w, null, q.Text, q.Answerable ? q.Answers[0] : GroundedPrompt.NoAnswer);
            n++;
        }
        foreach (var c in passages ?? [])
            Write(w, null, PassagePrompt(c.Title), c.Chunk.Text);
        return n;
    }

    /// <summary>
    /// The RAFT set: each example is the RAG prompt exactly as <see cref="GroundedAnswerer"/> builds it (system rules,
    /// numbered sources, question) with the RAFT answer, so the adapter is trained on the prompt it is served with.
    /// </summary>
    public static void WriteRaft(string path, IEnumerable<RaftExample> examples, IReadOnlyDictionary<string, StoredChunk> chunks, int maxSourceChars, string systemMessage)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var w = new StreamWriter(path);
        foreach (var e in examples)
        {
            var sources = e.Passages.Select((p, i) => chunks.TryGetValue(p.Id, out var c)
                ? AnswerSource.From(i + 1, new SearchHit(c, 0, i + 1, "raft"))
                : new AnswerSource(i + 1, 0, p.Id, p.Id, p.Id, 0, p.Text.Length, p.Text)).ToList();
            var messages = GroundedPrompt.Build(e.Question, sources, maxSourceChars, systemMessage);
            Write(w, messages[0].Text, messages[1].Text, e.Answer);
        }
    }

    private static void Write(StreamWriter w, string? system, string user, string assistant)
    {
        var messages = new List<object>();
        if (system != null) messages.Add(new { role = "system", content = system });
        messages.Add(new { role = "user", content = user });
        messages.Add(new { role = "assistant", content = assistant });
        w.WriteLine(JsonSerializer.Serialize(new { messages }));
    }
}
