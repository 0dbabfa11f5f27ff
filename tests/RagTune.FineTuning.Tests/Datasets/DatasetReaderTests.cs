using RagTune.FineTuning.Datasets;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Datasets;

public sealed class DatasetReaderTests
{
    [Fact]
    public void Seed_tasks_are_detected_and_each_instance_is_an_example()
    {
        var data = DatasetReader.Read(SharedData.File("data", "alpaca-seed-tasks", "seed_tasks.jsonl"));
        Assert.Equal(DatasetFormat.AlpacaInstances, data.Format);
        Assert.Equal(175, data.Records.Select(r => r.Line).Distinct().Count());
        Assert.True(data.Records.Count >= 175);
        var first = data.Records[0];
        Assert.Equal(1, first.Line);
        Assert.Equal(TurnRole.User, first.Turns[0].Role);
        Assert.StartsWith("Is there anything I can eat for a breakfast", first.Turns[0].Text);
        Assert.StartsWith("Yes, you can have 1 oatmeal", first.Turns[1].Text);
        // seed_task_1 has an input, which follows the instruction after a blank line
        Assert.Equal("What is the relation between the given pairs?\n\nNight : Day :: Right : Left", data.Records[1].Turns[0].Text);
    }

    [Fact]
    public void Gsm8k_json_array_is_read_as_alpaca_with_line_numbers()
    {
        var data = DatasetReader.Read(SharedData.File("data", "gsm8k-alpaca-format", "gsm_8k_train.json"));
        Assert.Equal(DatasetFormat.Alpaca, data.Format);
        Assert.Equal(7473, data.Records.Count);
        Assert.Equal(2, data.Records[0].Line);
        Assert.Equal(7, data.Records[1].Line);
        Assert.StartsWith("Natalia sold clips", data.Records[0].Turns[0].Text);
    }

    [Fact]
    public void Bad_json_missing_fields_and_empty_answers_are_reported_with_line_numbers()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.jsonl");
        File.WriteAllText(path, """
            {"instruction": "Say hi", "output": "hi"}
            {"instruction": "Broken", "output": 
            {"instruction": "No answer"}

            {"instruction": "Empty", "input": "x", "output": "   "}
            {"instruction": 5, "output": "five"}
            """);
        var e = Assert.Throws<DatasetFormatException>(() => DatasetReader.Read(path));
        Assert.Equal([2, 3, 5, 6], e.Issues.Select(i => i.Line));
        Assert.Contains("not valid JSON", e.Issues[0].Message);
        Assert.Contains("missing field 'output'", e.Issues[1].Message);
        Assert.Contains("field 'output' is empty", e.Issues[2].Message);
        Assert.Contains("must be a string", e.Issues[3].Message);
        Assert.Contains($"{path}:3: missing field 'output'", e.Message);
        Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public void A_broken_json_array_names_the_line()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.json");
        File.WriteAllText(path, "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\": \"c\" \"output\": \"d\"}\n]\n");
        var e = Assert.Throws<DatasetFormatException>(() => DatasetReader.Read(path));
        Assert.Equal(3, Assert.Single(e.Issues).Line);
    }

    [Fact]
    public void Chat_files_keep_roles_and_reject_conversations_without_a_final_answer()
    {
        using var dir = new TempDir();
        var path = dir.File("chat.jsonl");
        File.WriteAllText(path, """
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
            {"messages": [{"role": "user", "content": "Hi"}]}
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "?"}]}
            {"messages": [{"role": "wizard", "content": "Hi"}, {"role": "assistant", "content": ""}]}
            """);
        var e = Assert.Throws<DatasetFormatException>(() => DatasetReader.Read(path));
        Assert.Equal([2, 3, 4, 4], e.Issues.Select(i => i.Line));
        Assert.Contains("no assistant message", e.Issues[0].Message);
        Assert.Contains("must end with an assistant message", e.Issues[1].Message);
        Assert.Contains("role 'wizard'", e.Issues[2].Message);
        Assert.Contains("empty assistant answer", e.Issues[3].Message);

        File.WriteAllText(path, """{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}, {"role": "assistant", "content": "Hello."}]}""");
        var ok = DatasetReader.Read(path);
        Assert.Equal(DatasetFormat.Chat, ok.Format);
        Assert.Equal([TurnRole.System, TurnRole.User, TurnRole.Assistant], ok.Records[0].Turns.Select(t => t.Role));
        Assert.Equal("Hi", ok.Records[0].Turns[1].Text);
    }

    [Fact]
    public void Qa_text_and_explicit_format_override()
    {
        using var dir = new TempDir();
        var qa = dir.File("qa.jsonl");
        File.WriteAllText(qa, """
            {"question": "Who?", "answer": "Tim.", "context": "Tim ran."}
            {"question": "Why?", "answer": "Because."}
            """);
        var data = DatasetReader.Read(qa);
        Assert.Equal(DatasetFormat.Qa, data.Format);
        Assert.Equal("Context:\nTim ran.\n\nQuestion: Who?", data.Records[0].Turns[0].Text);
        Assert.Equal("Why?", data.Records[1].Turns[0].Text);

        // Forcing alpaca on a QA file reports the missing fields instead of guessing.
        var e = Assert.Throws<DatasetFormatException>(() => DatasetReader.Read(qa, DatasetFormat.Alpaca));
        Assert.Contains("missing field 'instruction'", e.Issues[0].Message);

        var txt = dir.File("story.txt");
        File.WriteAllText(txt, "Once upon a time there was a cat.");
        var text = DatasetReader.Read(txt);
        Assert.Equal(DatasetFormat.Text, text.Format);
        Assert.Equal("Once upon a time there was a cat.", text.Records[0].Text);

        var unknown = dir.File("odd.jsonl");
        File.WriteAllText(unknown, """{"foo": 1}""");
        var u = Assert.Throws<DatasetFormatException>(() => DatasetReader.Read(unknown));
        Assert.Contains("--format", u.Message);

        var empty = dir.File("empty.jsonl");
        File.WriteAllText(empty, "\n\n");
        Assert.Contains("no examples", Assert.Throws<DatasetFormatException>(() => DatasetReader.Read(empty)).Message);
        Assert.Throws<FileNotFoundException>(() => DatasetReader.Read(dir.File("missing.jsonl")));
    }

    [Fact]
    public void Format_names_parse()
    {
        Assert.Equal(DatasetFormat.Chat, DatasetFormats.Parse("chat"));
        Assert.Equal(DatasetFormat.AlpacaInstances, DatasetFormats.Parse("alpaca-instances"));
        Assert.Throws<ArgumentException>(() => DatasetFormats.Parse("csv"));
    }
}
