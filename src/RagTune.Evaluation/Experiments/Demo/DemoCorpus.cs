using System.Globalization;
using System.Text.Json;
using RagTune.Rag.Answering;

namespace RagTune.Evaluation.Experiments.Demo;

/// <summary>Pretraining corpus sizes: how many villages of the other world, and its seed (never the test world's).</summary>
internal sealed record DemoCorpusOptions(int Villages = 160, ulong Seed = 777_001)
{
    public void Validate()
    {
        if (Villages < 4) throw new ArgumentException($"DemoCorpusOptions.Villages must be at least 4 (got {Villages}).");
    }
}

/// <summary>One chat example of the corpus; <see cref="System"/> is null for closed-book and document examples.</summary>
internal sealed record DemoExample(string? System, string User, string Assistant);

/// <summary>
/// The demo model's pretraining text: villages of a world generated with another seed, taught in the exact formats
/// the experiment's arms prompt with, so the model knows the language and how to read a passage but none of the test
/// world's facts. Per village: its document as text (the ft arm's passage prompt), each question closed book (first wording), and each
/// question through the compact grounded prompt with two numbered sources, answered with the value and its citation
/// (or the abstention sentence when neither source is about the village asked).
/// </summary>
internal static class DemoCorpus
{
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
        for (int i = 0; i < villages.Count; i++)
        {
            var v = villages[i];
            var doc = DemoWorld.Render(v, i % 3);
            examples.Add(new DemoExample(null, TrainingSets.PassagePrompt(v.Name), doc));
            var other = villages[(i + 1 + rng.Next(villages.Count - 1)) % villages.Count];
            var otherDoc = DemoWorld.Render(other, (i + 1) % 3);
            foreach (var a in DemoWorld.Attributes)
            {
                var value = a.Value(v);
                for (int w = 0; w < a.Questions.Length; w++)
                {
                    var question = string.Format(CultureInfo.InvariantCulture, a.Questions[w], v.Name);
                    // Closed book once per fact (the format is all the base arm needs); reading in every wording.
                    if (w == 0) examples.Add(new DemoExample(null, question, value));
                    bool goldFirst = rng.Next(2) == 0;
                    var sources = goldFirst ? new[] { (v.Name, doc), (other.Name, otherDoc) } : new[] { (other.Name, otherDoc), (v.Name, doc) };
                    examples.Add(Grounded(question, sources, $"{value} [{(goldFirst ? 1 : 2)}]"));
                }
                // Unanswerable from the sources: a question about this village over two passages about others.
                var third = villages[(i + 2) % villages.Count];
                var q0 = string.Format(CultureInfo.InvariantCulture, a.Questions[rng.Next(a.Questions.Length)], v.Name);
                if (rng.Next(3) == 0)
                    examples.Add(Grounded(q0, [(other.Name, otherDoc), (third.Name, DemoWorld.Render(third, i % 3))], GroundedPrompt.NoAnswer));
            }
        }
        var leaked = examples.SelectMany(e => Words(e.User).Concat(Words(e.Assistant))).Where(test.Contains).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (leaked.Count > 0)
            throw new InvalidOperationException($"The demo corpus names entities of the test world ({string.Join(", ", leaked.Take(5))}); change DemoCorpusOptions.Seed.");
        return examples;
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
            w.WriteLine(JsonSerializer.Serialize(new { messages }));
        }
    }

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
