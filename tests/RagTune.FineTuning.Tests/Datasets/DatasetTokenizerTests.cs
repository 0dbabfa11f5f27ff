using RagTune.FineTuning.Datasets;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Datasets;

public sealed class DatasetTokenizerTests
{
    private static readonly RagTune.Tokenizers.ITokenizer s_tok = TestModels.StoriesModel.Tokenizer;

    private static LoadedDataset Alpaca(params (string Instruction, string Output)[] items) =>
        new("mem.jsonl", DatasetFormat.Alpaca,
            items.Select((x, i) => new DatasetRecord(i + 1, [new ChatTurn(TurnRole.User, x.Instruction), new ChatTurn(TurnRole.Assistant, x.Output)])).ToList());

    [Fact]
    public void Prompt_tokens_are_masked_and_the_answer_ends_with_eos()
    {
        var (examples, report) = new DatasetTokenizer(s_tok, 256).Tokenize(Alpaca(("Tell a story.", "Once upon a time")));
        var ex = Assert.Single(examples);
        var full = s_tok.Encode("User: Tell a story.\nAssistant: Once upon a time", addBos: true);
        Assert.Equal(full, ex.Inputs); // inputs = BOS + text (EOS is only a target)
        Assert.Equal(s_tok.BosId, ex.Inputs[0]);
        Assert.Equal(s_tok.EosId, ex.Targets[^1]);
        var trained = ex.Targets.Where(t => t >= 0).ToArray();
        Assert.Equal("Once upon a time", s_tok.Decode(trained[..^1]).Trim());
        // every target before the answer is masked, every one after its start is trained
        int first = Array.FindIndex(ex.Targets, t => t >= 0);
        Assert.All(ex.Targets[first..], t => Assert.True(t >= 0));
        Assert.Equal("User: Tell a story.\nAssistant:", s_tok.Decode(ex.Inputs.AsSpan(1, first)));
        Assert.Equal(1, report.Examples);
        Assert.Equal(ex.Length, report.Tokens);
        Assert.Equal(trained.Length, report.TrainableTokens);
    }

    [Fact]
    public void Chat_trains_only_assistant_turns()
    {
        var turns = new List<ChatTurn>
        {
            new(TurnRole.System, "Be kind."), new(TurnRole.User, "Hi"), new(TurnRole.Assistant, "Hello there"),
            new(TurnRole.User, "And?"), new(TurnRole.Assistant, "The end"),
        };
        var (tokens, trainable) = new DatasetTokenizer(s_tok, 512).Encode(turns);
        var trainedText = s_tok.Decode(tokens.Where((_, i) => trainable[i] && tokens[i] != s_tok.EosId).ToArray());
        Assert.Contains("Hello there", trainedText);
        Assert.Contains("The end", trainedText);
        Assert.DoesNotContain("Hi", trainedText);
        Assert.DoesNotContain("And", trainedText);
        Assert.DoesNotContain("kind", trainedText);
        Assert.DoesNotContain("User", trainedText);
        Assert.True(trainable[^1]);
        Assert.Equal(s_tok.EosId, tokens[^1]);
        Assert.Equal(1, tokens.Count(t => t == s_tok.EosId));
    }

    [Fact]
    public void Overlong_examples_are_truncated_or_dropped_and_reported()
    {
        var longAnswer = string.Join(' ', Enumerable.Repeat("the cat sat on the mat", 20));
        var data = Alpaca(("Short", "ok"), ("Tell me", longAnswer), (longAnswer, "x"));
        var (kept, report) = new DatasetTokenizer(s_tok, 32).Tokenize(data);
        Assert.Equal(2, kept.Count); // the third has no answer left after truncation
        Assert.All(kept, e => Assert.True(e.Length <= 32));
        Assert.Equal(1, report.Truncated);
        Assert.Equal(1, report.Dropped);
        Assert.Equal([2, 3], report.OverlongLines);
        Assert.Equal(2, report.LongestLine); // long answer + EOS outgrows the long prompt
        Assert.True(report.Longest > 32);
        Assert.Contains("1 truncated and 1 dropped", report.ToString());

        var (dropped, dropReport) = new DatasetTokenizer(s_tok, 32, OverlongPolicy.Drop).Tokenize(data);
        Assert.Single(dropped);
        Assert.Equal(2, dropReport.Dropped);
        Assert.Equal(0, dropReport.Truncated);
    }

    [Fact]
    public void Text_is_cut_into_windows_that_cover_every_token()
    {
        var text = string.Join(' ', Enumerable.Repeat("Lily went to the park and played with her dog.", 10));
        var data = new LoadedDataset("t.txt", DatasetFormat.Text, [new DatasetRecord(1, [], text)]);
        var (windows, report) = new DatasetTokenizer(s_tok, 16).Tokenize(data);
        var stream = s_tok.Encode(text, addBos: true).Append(s_tok.EosId).ToArray();
        Assert.Equal((stream.Length - 1 + 15) / 16, windows.Count);
        Assert.All(windows, w => Assert.All(w.Targets, t => Assert.True(t >= 0)));
        var targets = windows.SelectMany(w => w.Targets).ToArray();
        Assert.Equal(stream[1..], targets);
        Assert.Equal(stream.Length - 1, report.TrainableTokens);
    }

    [Fact]
    public void Real_files_tokenize_and_split_by_seed()
    {
        var data = DatasetReader.Read(SharedData.File("data", "alpaca-seed-tasks", "seed_tasks.jsonl"));
        var (examples, report) = new DatasetTokenizer(s_tok, 256).Tokenize(data);
        Assert.Equal(data.Records.Count, report.Records);
        Assert.Equal(report.Examples + report.Dropped, report.Records);
        Assert.All(examples, e => Assert.True(e.TrainableCount > 0));

        var (train, val) = DatasetSplit.Split(examples, 0.1, seed: 7);
        Assert.Equal(examples.Count, train.Count + val.Count);
        Assert.Equal((int)Math.Round(0.1 * examples.Count), val.Count);
        var (train2, val2) = DatasetSplit.Split(examples, 0.1, seed: 7);
        Assert.Equal(val.Select(v => v.Line), val2.Select(v => v.Line));
        var (_, val3) = DatasetSplit.Split(examples, 0.1, seed: 8);
        Assert.NotEqual(val.Select(v => v.Line), val3.Select(v => v.Line));
        Assert.Throws<ArgumentOutOfRangeException>(() => DatasetSplit.Split(examples, 1.0, 1));
    }
}
