using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using RagTune.Evaluation.Experiments.Demo;
using RagTune.Rag.Answering;

namespace RagTune.Evaluation.Tests.Experiments.Demo;

public sealed class DemoReadingProbeTests
{
    /// <summary>Answers from what the prompt shows: the value of the asked village's fact when its document is a source, else the abstention.</summary>
    private sealed class Reader(bool reads) : IChatClient
    {
        private readonly List<DemoWorld.Village> _world = DemoWorld.Generate(new DemoWorldOptions(40, 1, 0, 0, DemoReadingProbe.Seed)).Villages;

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var user = messages.Last().Text;
            string reply = "red [1]"; // a guesser: a value of one kind, whatever the passage says
            if (reads)
            {
                var question = Regex.Match(user, "Question: (.*)").Groups[1].Value;
                var asked = _world.First(v => question.Contains(v.Name, StringComparison.Ordinal));
                var shown = Regex.Matches(user, "title=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
                var attribute = DemoWorld.Attributes.First(a => a.Questions.Any(q => Regex.IsMatch(question, "^" + Regex.Escape(q).Replace("\\{0}", ".+") + "$")));
                reply = shown.IndexOf(asked.Name) is >= 0 and var i ? $"{attribute.Value(asked)} [{i + 1}]" : GroundedPrompt.NoAnswer;
            }
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, reply)));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_reader_reads_every_value_and_abstains_on_villages_not_shown(int sources)
    {
        var score = await DemoReadingProbe.RunAsync(new Reader(reads: true), 40, sources);
        Assert.Equal(30, score.Answerable);
        Assert.Equal(10, score.Unanswerable);
        Assert.Equal(1.0, score.ReadShare);
        Assert.Equal(1.0, score.AbstainShare);
    }

    [Fact]
    public async Task A_guesser_of_one_value_reads_little_and_never_abstains()
    {
        var score = await DemoReadingProbe.RunAsync(new Reader(reads: false), 40);
        Assert.True(score.ReadShare < 0.2, score.ToString());
        Assert.Equal(0, score.Abstained);
        Assert.NotEmpty(score.Samples);
    }
}
