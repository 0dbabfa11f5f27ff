using System.Globalization;
using RagTune.Rag.Answering;

namespace RagTune.Evaluation.Experiments.Demo;

/// <summary>
/// The two drills the demo model is trained on before the reading corpus (<see cref="DemoCorpus"/>), because reading
/// did not form without them: trained on the reading corpus alone, for up to 2,500 steps and in seven recipes, the model
/// learned the formats and the asked value's kind but never copied the value (docs/compare.md). Copying is a circuit that
/// forms in a phase change (Olsson et al. 2022) once enough copy targets have been seen, and a grounded example holds one
/// to five among 150–250 tokens. So:
/// <list type="number">
/// <item><see cref="Copy"/>: a run of 10–30 value words, repeated by the assistant from a word the user names. Every
/// target is a copy, in sequences of ~60 tokens: the copy circuit forms in a few hundred steps (measured with copying
/// from the start: answer loss 5.3 → 0.01 in 1,500 steps, phase change near step 300–500).</item>
/// <item><see cref="Lookup"/>: a short fragment of a village's document (1–5 facts) in the source block the grounded
/// prompt uses, then up to five of its facts asked in turn, without the system message and the reply instruction, so
/// the question's words sit next to the answer. The copy circuit is then pointed by the question: measured, answer loss
/// 2.5 → 0.15 in 400 steps after the copy drill, against 2.5 → 1.5 (guessing) without it.</item>
/// </list>
/// The reading corpus then moves the same lookup into the served prompt (system message, whole documents, the reply
/// instruction) in a few hundred steps. Villages come from a world of their own seed, checked against the test world
/// like the corpus.
/// </summary>
public static class DemoCurriculum
{
    /// <summary>The lookup drill's world seed: neither the test world, the reading corpus nor the probe.</summary>
    public const ulong LookupSeed = 555_013;

    /// <summary>
    /// Copy drill examples: a run of distinct value words, and the run again from a word the user names. Starting at a
    /// random word makes copying by position impossible: every target is found by content (the word before it, looked up
    /// in the run), the induction a reader needs. Copying from the start was learned by position in some seeds, and the
    /// lookup drill then did not form.
    /// </summary>
    public static List<DemoExample> Copy(int count, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var words = DemoWorld.ValueWords.Distinct(StringComparer.Ordinal).ToArray();
        var rng = new Random(unchecked((int)seed));
        var examples = new List<DemoExample>(count);
        for (int i = 0; i < count; i++)
        {
            var run = words.OrderBy(_ => rng.Next()).Take(10 + rng.Next(21)).ToArray();
            int from = rng.Next(run.Length - 3);
            examples.Add(new DemoExample(null, $"{string.Join(' ', run)}\nRepeat from {run[from]}.", string.Join(' ', run[from..])));
        }
        return examples;
    }

    /// <summary>
    /// Lookup drill examples over <paramref name="villages"/> fresh villages: a fragment of 1–5 facts in a source block,
    /// its facts asked in turn and answered <c>value [1]</c>. Checked to name no village of <paramref name="testWorld"/>.
    /// </summary>
    public static List<DemoExample> Lookup(int villages, DemoWorldOptions testWorld, ulong seed = LookupSeed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(villages, 4);
        if (seed == testWorld.Seed)
            throw new ArgumentException($"The lookup drill's seed must differ from the test world's seed ({testWorld.Seed}): the model must not see the test facts.");
        var test = DemoWorld.Generate(testWorld).Names;
        var world = DemoWorld.Generate(new DemoWorldOptions(villages, 1, 0, 0, seed)).Villages.Where(v => !test.Contains(v.Name));
        var rng = new Random(unchecked((int)seed));
        var examples = new List<DemoExample>(villages);
        foreach (var v in world)
        {
            var facts = DemoWorld.Attributes.OrderBy(_ => rng.Next()).Take(1 + rng.Next(DemoWorld.Attributes.Count)).ToList();
            var fragment = DemoWorld.RenderFragment(v, facts, rng.Next(2));
            var block = GroundedPrompt.SourceBlock(new AnswerSource(1, 0, v.Name, v.Name, v.Name, 0, fragment.Length, fragment), ArmAnswerer.MaxSourceChars);
            var turns = facts.OrderBy(_ => rng.Next())
                .Select(a => ("Question: " + string.Format(CultureInfo.InvariantCulture, a.Questions[rng.Next(a.Questions.Length)], v.Name), $"{a.Value(v)} [1]"))
                .ToList();
            examples.Add(new DemoExample(null, block + turns[0].Item1, turns[0].Item2, turns.Skip(1).ToList()));
        }
        DemoCorpus.CheckDisjoint(examples, test);
        return examples;
    }
}
