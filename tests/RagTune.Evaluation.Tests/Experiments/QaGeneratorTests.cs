using Microsoft.Extensions.AI;
using RagTune.Evaluation.Experiments;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class QaGeneratorTests
{
    /// <summary>A scripted chat model: the reply to a prompt is the first script entry whose key the prompt contains.</summary>
    private sealed class ScriptedChat(params (string Key, string Reply)[] script) : IChatClient
    {
        public List<string> Prompts { get; } = [];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var prompt = string.Join("\n", messages.Select(m => m.Text));
            Prompts.Add(prompt);
            var reply = script.FirstOrDefault(s => prompt.Contains(s.Key, StringComparison.Ordinal)).Reply ?? "";
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, reply)));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    private static StoredChunk Chunk(long id, string doc, string text) =>
        new(id, doc, doc, doc, new Chunk(0, text, 0, text.Length, [], 10), new Dictionary<string, string>());

    [Fact]
    public async Task Pairs_are_kept_only_when_the_answer_is_in_the_source_and_not_in_the_question()
    {
        var chunks = new[]
        {
            Chunk(1, "brel.md", "Brel lies on the river Tam. Tomas founded it."),
            Chunk(2, "kor.md", "Kor trades in salt."),
            Chunk(3, "vel.md", "Vel has a blue flag."),
            Chunk(4, "zun.md", "Zun is quiet."),
        };
        var chat = new ScriptedChat(
            ("Reword this question without changing its meaning (variant 1)", "Which person founded Brel?"),
            ("Reword this question without changing its meaning (variant 2)", "Who founded Brel?"),
            ("Brel lies", "Question: Who founded Brel?\nAnswer: Tomas."),
            ("Kor trades", "Question: What does Kor trade?\nAnswer: pepper"),
            ("Vel has", "Question: Is the flag of Vel blue?\nAnswer: blue"),
            ("Zun is", "I cannot do that."));
        var result = await new QaGenerator(chat, new QaGeneratorOptions { Paraphrases = 2 }).GenerateAsync(chunks, null, CancellationToken.None);

        var original = Assert.Single(result.Pairs, p => p.ParaphraseOf == null);
        Assert.Equal(("Who founded Brel?", "Tomas", 1L, "brel.md"), (original.Question, original.Answer, original.ChunkId, original.DocumentId));
        var paraphrase = Assert.Single(result.Pairs, p => p.ParaphraseOf != null);
        Assert.Equal(("Which person founded Brel?", original.Id), (paraphrase.Question, paraphrase.ParaphraseOf));
        Assert.Equal(1, result.Dropped[QaGenerator.DroppedAnswerNotInSource]);
        Assert.Equal(1, result.Dropped[QaGenerator.DroppedGivesAway]);
        Assert.Equal(1, result.Dropped[QaGenerator.DroppedNoPair]);
        Assert.Equal(1, result.Dropped[QaGenerator.DroppedParaphraseSame]);
        Assert.Equal(4, result.ChunksSeen);
    }

    [Fact]
    public async Task Written_pairs_read_back_as_questions_with_their_fact_and_source()
    {
        var chat = new ScriptedChat(("Reword", "Which person started Brel?"), ("Brel", "Question: Who founded Brel?\nAnswer: Tomas"));
        var result = await new QaGenerator(chat, new QaGeneratorOptions { Paraphrases = 1 })
            .GenerateAsync([Chunk(7, "brel.md", "Tomas founded Brel.")], null, CancellationToken.None);
        using var dir = new TempDir();
        QaGenerator.Write(dir.File("qa.jsonl"), result.Pairs);
        Assert.Contains("\"source\":\"Tomas founded Brel.\"", File.ReadAllText(dir.File("qa.jsonl")));
        var questions = QuestionFile.Read(dir.File("qa.jsonl"));
        Assert.Equal(2, questions.Count);
        Assert.Single(questions.Select(q => q.FactId).Distinct());
        Assert.Equal("brel.md", questions[1].GoldDocumentId);
        Assert.True(questions[1].IsParaphrase);
    }

    [Theory]
    [InlineData("Question: Who?\nAnswer: Tomas.", "Who?", "Tomas")]
    [InlineData("answer: x\nquestion: y", "y", "x")]
    [InlineData("Question: only", "only", null)]
    public void Replies_are_parsed_in_any_case_and_order(string reply, string? question, string? answer) =>
        Assert.Equal((question, answer), QaGenerator.ParsePair(reply));
}
