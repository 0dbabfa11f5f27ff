using System.Globalization;
using System.Text.Json;
using RagTune.Rag.Answering;

namespace RagTune.Evaluation.Experiments.Demo;

/// <summary>
/// Pretraining corpus sizes: how many villages of the other world, its seed (never the test world's), and how many
/// sources a grounded example shows (the demo spec's <c>top_k</c>, so reading is learned on the prompt it is served).
/// </summary>
public sealed record DemoCorpusOptions(int Villages = 160, ulong Seed = 777_001, int Sources = 1, int QuestionsPerPassage = 1)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the setting out of range.</summary>
    public void Validate()
    {
        if (QuestionsPerPassage is < 1 or > 5) throw new ArgumentException($"DemoCorpusOptions.QuestionsPerPassage must be 1 to 5 (got {QuestionsPerPassage}).");
        if (Villages < 4) throw new ArgumentException($"DemoCorpusOptions.Villages must be at least 4 (got {Villages}).");
        if (Sources is < 1 or > 3) throw new ArgumentException($"DemoCorpusOptions.Sources must be 1 to 3 (got {Sources}).");
    }
}

/// <summary>
/// One chat example of the corpus; <see cref="System"/> is null for closed-book and document examples, and
/// <see cref="FollowUps"/> are further (question, answer) turns of the same conversation over the same sources.
/// </summary>
public sealed record DemoExample(string? System, string User, string Assistant, IReadOnlyList<(string User, string Assistant)>? FollowUps = null);

/// <summary>
/// The demo model's pretraining text: villages of a world generated with another seed, taught in the exact formats
/// the experiment's arms prompt with, so the model knows the language and how to read a passage but none of the test
/// world's facts. Every village is fresh (its facts are asked once or twice), so memorising cannot lower the loss and
/// only reading the shown passage does. Per village: two conversations through the compact grounded prompt (random
/// wording, the gold source at a random number among <see cref="DemoCorpusOptions.Sources"/>), one over a fragment of
/// its document holding the one or two facts it asks, one over the whole document (random layout) asking
/// <see cref="DemoCorpusOptions.QuestionsPerPassage"/> facts in turn, each answered with the value and its citation;
/// every fourth village a question
/// over other villages' documents, answered with the abstention sentence; every fourth a closed-book question (the
/// base arm's format) and every sixteenth its document as text (the ft arm's passage prompt). Documents are few on
/// purpose: each is fifty targets against a grounded answer's four, and the loss is a mean over targets, so more of them
/// would drown the reading signal.
/// </summary>
public static class DemoCorpus
{
    /// <summary>
    /// Builds the examples. Villages of the corpus world that share a name with the test world are left out, and the
    /// result is checked: an overlap throws, because a model that saw a test fact would make the demo's figures wrong.
    /// </summary>
    public static List<DemoExample> Build(DemoCorpusOptions options, DemoWorldOptions testWorld)
    {
        options.Validate();
        if (options.Seed == testWorld.Seed)
            throw new ArgumentException($"DemoCorpusOptions.Seed must differ from the test world's seed ({testWorld.Seed}): the model must not see the test facts.");
        var test = DemoWorld.Generate(testWorld).Names;
        var world = DemoWorld.Generate(new DemoWorldOptions(options.Villages, 1, 0, 0, options.Seed));
        var villages = world.Villages.Where(v => !test.Contains(v.Name)).ToList();
        var rng = new Random(unchecked((int)options.Seed));
        var attributes = DemoWorld.Attributes;
        var examples = new List<DemoExample>();
        string Question(DemoWorld.Attribute a, string village) =>
            string.Format(CultureInfo.InvariantCulture, a.Questions[rng.Next(a.Questions.Length)], village);
        (string, string) Source(DemoWorld.Village v) => (v.Name, DemoWorld.Render(v, rng.Next(3)));
        DemoWorld.Village Other(int i) => villages[(i + 1 + rng.Next(villages.Count - 1)) % villages.Count];
        for (int i = 0; i < villages.Count; i++)
        {
            var v = villages[i];
            // Two conversations per village over its document, each asking QuestionsPerPassage facts in turn (more
            // answers per passage read: the passage is most of an example's tokens, the answers all of its targets).
            // The first is over a fragment of the document holding only the one or two facts it asks (a short passage
            // makes the lookup an easy first step: the value is one of few words there), the second over the whole.
            var asked = attributes.OrderBy(_ => rng.Next()).ToList();
            for (int c = 0; c < 2; c++)
            {
                int gold = rng.Next(options.Sources);
                var facts = c == 0 ? asked.Take(1 + rng.Next(2)).ToList() : Enumerable.Range(0, options.QuestionsPerPassage).Select(q => asked[(1 + 2 * q) % asked.Count]).ToList();
                var sources = Enumerable.Range(0, options.Sources)
                    .Select(k => k != gold ? Source(Other(i)) : c == 0 ? (v.Name, DemoWorld.RenderFragment(v, facts, rng.Next(2))) : Source(v)).ToArray();
                var turns = facts.Select(a => (Question(a, v.Name), $"{a.Value(v)} [{gold + 1}]")).ToList();
                var first = Grounded(turns[0].Item1, sources, turns[0].Item2);
                examples.Add(turns.Count == 1 ? first : first with { FollowUps = turns.Skip(1).Select(t => (GroundedPrompt.FollowUp(t.Item1), t.Item2)).ToList() });
            }
            if (i % 4 == 0)
            {
                var sources = Enumerable.Range(0, options.Sources).Select(_ => Source(Other(i))).ToArray();
                examples.Add(Grounded(Question(attributes[rng.Next(attributes.Count)], v.Name), sources, GroundedPrompt.NoAnswer));
            }
            if (i % 4 == 1)
            {
                var a = attributes[rng.Next(attributes.Count)];
                examples.Add(new DemoExample(null, string.Format(CultureInfo.InvariantCulture, a.Questions[0], v.Name), a.Value(v)));
            }
            if (i % 16 == 2) examples.Add(new DemoExample(null, TrainingSets.PassagePrompt(v.Name), DemoWorld.Render(v, rng.Next(3))));
        }
        CheckDisjoint(examples, test);
        return examples;
    }

    /// <summary>
    /// Throws when <paramref name="examples"/> name a village of <paramref name="names"/> (a test world's names): a model
    /// trained on them would know a test fact. Also run before a world other than the one the corpus was built against
    /// (the demo's <c>--quick</c> world) is measured with a model trained on it.
    /// </summary>
    public static void CheckDisjoint(IEnumerable<DemoExample> examples, IReadOnlySet<string> names)
    {
        var leaked = examples.SelectMany(Words).Where(names.Contains).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (leaked.Count > 0)
            throw new InvalidOperationException($"The demo corpus names entities of the test world ({string.Join(", ", leaked.Take(5))}); change DemoCorpusOptions.Seed.");
    }

    /// <summary>Writes the examples as chat JSONL (<c>{"messages": [...]}</c>), the layout the fine-tuning reader takes.</summary>
    public static void Write(string path, IEnumerable<DemoExample> examples)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var w = new StreamWriter(path);
        foreach (var e in examples)
        {
            var messages = new List<object>();
            if (e.System != null) messages.Add(new { role = "system", content = e.System });
            messages.Add(new { role = "user", content = e.User });
            messages.Add(new { role = "assistant", content = e.Assistant });
            foreach (var (user, assistant) in e.FollowUps ?? [])
            {
                messages.Add(new { role = "user", content = user });
                messages.Add(new { role = "assistant", content = assistant });
            }
            w.WriteLine(JsonSerializer.Serialize(new { messages }));
        }
    }

    // Every word the example teaches, follow-up turns included.
    private static IEnumerable<string> Words(DemoExample e) =>
        new[] { e.User, e.Assistant }.Concat((e.FollowUps ?? []).SelectMany(f => new[] { f.User, f.Assistant })).SelectMany(Words);

    /// <summary>The words of a text (letters only), for the leak check.</summary>
    public static IEnumerable<string> Words(string text) =>
        text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(w => w.Trim(".,;:!?\"'[]()#-<>=/".ToCharArray())).Where(w => w.Length > 0);

    // The RAG prompt as GroundedAnswerer builds it (compact rules, numbered sources), so reading is learned on the served prompt.
    private static DemoExample Grounded(string question, (string Title, string Text)[] sources, string answer)
    {
        var numbered = sources.Select((s, i) => new AnswerSource(i + 1, 0, s.Title, s.Title, s.Title, 0, s.Text.Length, s.Text)).ToList();
        var messages = GroundedPrompt.Build(question, numbered, ArmAnswerer.MaxSourceChars, GroundedPrompt.CompactSystemMessage);
        return new DemoExample(messages[0].Text, messages[1].Text, answer);
    }
}
