using System.Globalization;
using RagTune.Rag.Answering;
using Village = RagTune.Evaluation.Experiments.Demo.DemoWorld.Village;

namespace RagTune.Evaluation.Experiments.Demo;

/// <summary>
/// Pretraining corpus sizes: how many villages of the other world (each a fresh set of names, shown in a handful of
/// examples only) and its seed (never the test world's).
/// </summary>
internal sealed record DemoCorpusOptions(int Villages = 4000, ulong Seed = 777_001)
{
    public void Validate()
    {
        if (Villages < 4) throw new ArgumentException($"DemoCorpusOptions.Villages must be at least 4 (got {Villages}).");
    }
}

/// <summary>
/// One chat example of the corpus; <see cref="System"/> is null for closed-book and document examples. A reading example
/// goes on with <see cref="More"/> questions about the same sources, each answered in turn.
/// </summary>
internal sealed record DemoExample(string? System, string User, string Assistant, IReadOnlyList<(string User, string Assistant)>? More = null)
{
    /// <summary>Every user and assistant text, first turn first.</summary>
    public IEnumerable<(string User, string Assistant)> Turns => new[] { (User, Assistant) }.Concat(More ?? []);
}

/// <summary>
/// The demo model's pretraining text: villages of a world generated with another seed, taught in the exact formats
/// the experiment's arms prompt with, so the model knows the language and how to read a passage but none of the test
/// world's facts. Mostly reading: per village, one conversation over the compact grounded prompt with its document
/// and a distractor village's (gold in a random place, each in a random layout) that asks every fact of the village
/// and two of the distractor's in random order and wordings, each answered with the value and its citation, now and
/// then also a village that no source is about (answered with the abstention sentence). Each village is the gold
/// source of one conversation only and the world has thousands, so no fact can be remembered from one example to the
/// next: copying the value for the asked village out of the source about it is the only way to lower the loss. Some
/// villages also give a closed-book question (the base arm's format), an unanswerable single question, or their
/// document as text (the ft arm's passage prompt).
/// </summary>
internal static class DemoCorpus
{
    /// <summary>Facts of the distractor village also asked in a reading example (besides every fact of the gold one).</summary>
    public const int ReadingsOfDistractor = 2;

    /// <summary>
    /// Builds the examples. Villages of the corpus world that share any name with the test world are left out, and the
    /// result is checked: an overlap throws, because a model that saw a test fact would make the demo's figures wrong.
    /// </summary>
    public static List<DemoExample> Build(DemoCorpusOptions options, DemoWorldOptions testWorld)
    {
        options.Validate();
        if (options.Seed == testWorld.Seed)
            throw new ArgumentException($"DemoCorpusOptions.Seed must differ from the test world's seed ({testWorld.Seed}): the model must not see the test facts.");
        var test = DemoWorld.Generate(testWorld).Names;
        var world = DemoWorld.Generate(new DemoWorldOptions(options.Villages, 1, 0, 0, options.Seed));
        var villages = world.Villages.Where(v => !test.Contains(v.Name) && !test.Contains(v.Founder) && !test.Contains(v.River)).ToList();
        var rng = new Random(unchecked((int)options.Seed));
        var examples = new List<DemoExample>();
        var attributes = DemoWorld.Attributes;
        int Other(int i, int not = -1)
        {
            int j;
            do j = rng.Next(villages.Count); while (j == i || j == not);
            return j;
        }
        string Doc(Village v) => DemoWorld.Render(v, rng.Next(3)).TrimEnd();
        string Ask(DemoWorld.Attribute a, Village v) => string.Format(CultureInfo.InvariantCulture, a.Questions[rng.Next(a.Questions.Length)], v.Name);
        for (int i = 0; i < villages.Count; i++)
        {
            var v = villages[i];
            int o = Other(i);
            var other = villages[o];
            bool goldFirst = rng.Next(2) == 0;
            var sources = goldFirst ? new[] { (v.Name, Doc(v)), (other.Name, Doc(other)) } : new[] { (other.Name, Doc(other)), (v.Name, Doc(v)) };
            int gold = goldFirst ? 1 : 2;
            // Every fact of the village and two of the other source's, in random order, so the asked name decides the source.
            var asks = attributes.Select(a => (Question: Ask(a, v), Answer: $"{a.Value(v)} [{gold}]"))
                .Concat(attributes.OrderBy(_ => rng.Next()).Take(ReadingsOfDistractor).Select(a => (Question: Ask(a, other), Answer: $"{a.Value(other)} [{3 - gold}]")))
                .OrderBy(_ => rng.Next()).ToList();
            if (rng.Next(3) == 0)
                asks.Insert(rng.Next(asks.Count + 1), (Ask(attributes[rng.Next(attributes.Count)], villages[Other(i, o)]), GroundedPrompt.NoAnswer));
            examples.Add(Reading(sources, asks));
            if (rng.Next(8) == 0)
            {
                // Unanswerable from the sources: a question about this village over two passages about others.
                int f = Other(i);
                var (first, second) = (villages[f], villages[Other(i, f)]);
                examples.Add(Grounded(Ask(attributes[rng.Next(attributes.Count)], v), [(first.Name, Doc(first)), (second.Name, Doc(second))], GroundedPrompt.NoAnswer));
            }
            if (rng.Next(6) == 0)
            {
                var a = attributes[rng.Next(attributes.Count)];
                examples.Add(new DemoExample(null, Ask(a, v), a.Value(v)));
            }
            if (rng.Next(10) == 0)
                examples.Add(new DemoExample(null, TrainingSets.PassagePrompt(v.Name), DemoWorld.Render(v, rng.Next(3))));
        }
        var leaked = examples.SelectMany(e => e.Turns).SelectMany(t => Words(t.User).Concat(Words(t.Assistant))).Where(test.Contains).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (leaked.Count > 0)
            throw new InvalidOperationException($"The demo corpus names entities of the test world ({string.Join(", ", leaked.Take(5))}); change DemoCorpusOptions.Seed.");
        return examples;
    }

    /// <summary>The words of a text (letters only), for the leak check.</summary>
    public static IEnumerable<string> Words(string text) =>
        text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(w => w.Trim(".,;:!?\"'[]()#-<>=/".ToCharArray())).Where(w => w.Length > 0);

    // The first question in the RAG prompt; each later one as the prompt's question part alone, the sources staying above.
    private static DemoExample Reading((string Title, string Text)[] sources, List<(string Question, string Answer)> asks)
    {
        var first = Grounded(asks[0].Question, sources, asks[0].Answer);
        var more = asks.Skip(1).Select(a =>
        {
            var user = Grounded(a.Question, sources, a.Answer).User;
            return (user[user.IndexOf("Question: ", StringComparison.Ordinal)..], a.Answer);
        }).ToList();
        return first with { More = more };
    }

    // The RAG prompt as GroundedAnswerer builds it (compact rules, numbered sources), so reading is learned on the served prompt.
    private static DemoExample Grounded(string question, (string Title, string Text)[] sources, string answer)
    {
        var numbered = sources.Select((s, i) => new AnswerSource(i + 1, 0, s.Title, s.Title, s.Title, 0, s.Text.Length, s.Text)).ToList();
        var messages = GroundedPrompt.Build(question, numbered, ArmAnswerer.MaxSourceChars, GroundedPrompt.CompactSystemMessage);
        return new DemoExample(messages[0].Text, messages[1].Text, answer);
    }
}
