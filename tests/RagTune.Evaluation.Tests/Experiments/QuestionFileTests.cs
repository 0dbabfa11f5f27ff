using RagTune.Evaluation.Experiments;
using RagTune.TestKit;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class QuestionFileTests
{
    [Fact]
    public void Paraphrases_join_their_question_s_fact_and_unanswerable_questions_have_no_answers()
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir.File("q.jsonl"), [
            """{"id": "1", "question": "Who founded Brel?", "answer": "Tomas"}""",
            """{"id": "2", "question": "Which person founded Brel?", "answer": "Tomas", "paraphrase_of": "1"}""",
            "",
            """{"id": "3", "question": "What is the flag?", "answers": ["red", "crimson"], "fact": "flag", "doc": "brel.md"}""",
            """{"question": "Who founded Nowhere?", "unanswerable": true}""",
        ]);
        var q = QuestionFile.Read(dir.File("q.jsonl"));
        Assert.Equal(4, q.Count);
        Assert.Equal("1", q[1].FactId);
        Assert.True(q[1].IsParaphrase);
        Assert.Equal(["red", "crimson"], q[2].Answers);
        Assert.Equal("flag", q[2].FactId);
        Assert.Equal("brel.md", q[2].GoldDocumentId);
        Assert.False(q[3].Answerable);
        Assert.Equal("q5", q[3].Id);
    }

    [Fact]
    public void Every_bad_record_is_reported_with_its_line()
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir.File("q.jsonl"), [
            """{"question": "No answer here?"}""",
            """{"question": "Fine?", "answer": "yes", "colour": "red"}""",
            "not json",
            """{"id": "x", "question": "Of what?", "answer": "a", "paraphrase_of": "missing"}""",
        ]);
        var e = Assert.Throws<QuestionFileException>(() => QuestionFile.Read(dir.File("q.jsonl")));
        Assert.Contains(e.Problems, p => p.StartsWith("line 1:") && p.Contains("no reference answer"));
        Assert.Contains(e.Problems, p => p.StartsWith("line 2:") && p.Contains("'colour' is unknown"));
        Assert.Contains(e.Problems, p => p.StartsWith("line 3:") && p.Contains("not valid JSON"));
        Assert.Contains(e.Problems, p => p.StartsWith("line 4:") && p.Contains("paraphrase_of 'missing'"));
    }
}
