using System.Globalization;
using System.Text.RegularExpressions;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// Freshness: rewrites the answer of a share of the test facts in the work copy of the documents (to a made-up value
/// no model can know), re-ingests incrementally (timed), and asks every arm the changed facts' questions again
/// without retraining. Before = the arm's answers to those questions in the main run (same models, same store).
/// The new value is of the fact's own kind where the questions show one: facts named <c>entity.attribute</c> draw it
/// from the answers other entities have for that attribute (a founder becomes another person's name, as real updates
/// do); otherwise it is a made-up word.
/// </summary>
internal sealed class FreshnessExperiment(ExperimentRunner runner, FreshnessSpec spec, ulong seed)
{
    public async Task<FreshnessRun> RunAsync(IReadOnlyList<ExperimentQuestion> test, IReadOnlyList<ArmRun> arms, IReadOnlyList<ExperimentQuestion> all,
        IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        var kinds = ValuesByAttribute(all);
        progress?.Report(new ExperimentProgress("freshness: edit documents", 0, 1));
        var rng = new Random(unchecked((int)seed) ^ 0xF4E5);
        var candidates = test.Where(q => q.Answerable && q.GoldDocumentId != null && q.GoldPassage != null)
            .Select(q => q.FactId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        rng.Shuffle(candidates);
        int count = Math.Clamp((int)Math.Round(spec.Share * candidates.Length), Math.Min(1, candidates.Length), candidates.Length);
        var sources = (await runner.Store.GetAllChunksAsync(ct)).GroupBy(c => c.DocumentId).ToDictionary(g => g.Key, g => g.First().Source, StringComparer.Ordinal);

        var changed = new List<string>();
        var newAnswers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var fact in candidates.Take(count))
        {
            var q = test.First(x => x.FactId == fact && x.Answerable && x.GoldDocumentId != null);
            if (!sources.TryGetValue(q.GoldDocumentId!, out var source)) continue;
            var file = source.Split('#')[0];
            if (!File.Exists(file)) continue;
            var old = q.Answers[0].Trim();
            var replacement = kinds.TryGetValue(Attribute(fact), out var pool) && pool.Where(v => !string.Equals(v, old, StringComparison.OrdinalIgnoreCase)).ToArray() is { Length: > 0 } others
                ? others[rng.Next(others.Length)]
                : Replacement(old, rng);
            var text = File.ReadAllText(file);
            // Whole words only: "red" must not rewrite "bored".
            var pattern = (char.IsLetterOrDigit(old[0]) ? @"\b" : "") + Regex.Escape(old) + (char.IsLetterOrDigit(old[^1]) ? @"\b" : "");
            var edited = Regex.Replace(text, pattern, replacement, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
            if (edited == text) continue;
            File.WriteAllText(file, edited);
            changed.Add(fact);
            newAnswers[fact] = replacement;
        }
        progress?.Report(new ExperimentProgress("freshness: edit documents", 1, 1, $"{changed.Count} facts changed"));

        var changedSet = changed.ToHashSet(StringComparer.Ordinal);
        var changedQuestions = test.Where(q => changedSet.Contains(q.FactId)).Select(q => q with { Answers = [newAnswers[q.FactId]] }).ToList();
        var ids = changedQuestions.Select(q => q.Id).ToHashSet(StringComparer.Ordinal);

        progress?.Report(new ExperimentProgress("freshness: re-ingest", 0, 1));
        double reingest = await runner.ReingestAsync(ct);
        progress?.Report(new ExperimentProgress("freshness: re-ingest", 1, 1, $"{reingest:F2} s"));

        var before = new List<ArmRun>();
        var after = new List<ArmRun>();
        foreach (var arm in arms.Where(a => a.Error == null))
        {
            before.Add(new ArmRun(arm.Arm, arm.Answers.Where(a => ids.Contains(a.QuestionId)).ToList(), null));
            try
            {
                after.Add(new ArmRun(arm.Arm, await runner.AnswerAsync(arm.Arm, changedQuestions, progress, "freshness: answer " + arm.Arm, ct), null));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                after.Add(new ArmRun(arm.Arm, [], null, $"{e.GetType().Name}: {e.Message}"));
            }
        }

        // What bringing each arm up to date costs: re-ingest for what retrieves, retraining for what memorised.
        var cost = new Dictionary<string, double>(StringComparer.Ordinal);
        double ft = runner.Adapters.TryGetValue(ArmNames.FineTuned, out var f) ? f.WallSeconds : double.NaN;
        foreach (var arm in arms.Select(a => a.Arm))
        {
            double c = arm switch
            {
                ArmNames.Rag or ArmNames.RaftRag => reingest,
                ArmNames.FineTuned => ft,
                ArmNames.FineTunedRag => reingest + ft,
                _ => double.NaN,
            };
            if (double.IsFinite(c)) cost[arm] = c;
        }
        return new FreshnessRun(changed, changedQuestions, reingest, before, after, cost);
    }

    // "belmar.founder" -> "founder"; a fact id without a dot has no attribute.
    private static string Attribute(string factId) => factId.LastIndexOf('.') is > 0 and var dot ? factId[(dot + 1)..] : "";

    /// <summary>The distinct first answers of the answerable facts, per attribute, in a stable order.</summary>
    internal static Dictionary<string, string[]> ValuesByAttribute(IEnumerable<ExperimentQuestion> questions) =>
        questions.Where(q => q.Answerable && q.Answers.Count > 0 && Attribute(q.FactId).Length > 0)
            .GroupBy(q => Attribute(q.FactId), StringComparer.Ordinal)
            .Select(g => (g.Key, Values: g.Select(q => q.Answers[0].Trim()).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal).ToArray()))
            .Where(g => g.Values.Length > 1)
            .ToDictionary(g => g.Key, g => g.Values, StringComparer.Ordinal);

    private static readonly string[] s_onsets = ["B", "D", "K", "L", "M", "N", "R", "T", "V", "Z", "Br", "Dr", "Kl", "Tr", "Th", "Sh"];
    private static readonly string[] s_vowels = ["a", "e", "i", "o", "u", "ai", "ei", "ou"];
    private static readonly string[] s_codas = ["", "n", "r", "l", "s", "th", "nd", "rk"];

    /// <summary>
    /// A new value of the same kind: a number moves by 1-49 (keeping its sign), anything else becomes a made-up word
    /// (two or three syllables) no model has seen as this fact's answer.
    /// </summary>
    internal static string Replacement(string old, Random rng)
    {
        if (long.TryParse(old, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
            return (n + rng.Next(1, 50)).ToString(CultureInfo.InvariantCulture);
        string word;
        do
        {
            int syllables = 2 + rng.Next(2);
            var sb = new System.Text.StringBuilder();
            for (int i = 0; i < syllables; i++)
                sb.Append(i == 0 ? s_onsets[rng.Next(s_onsets.Length)] : s_onsets[rng.Next(s_onsets.Length)].ToLowerInvariant())
                  .Append(s_vowels[rng.Next(s_vowels.Length)]);
            sb.Append(s_codas[rng.Next(s_codas.Length)]);
            word = sb.ToString();
        }
        while (string.Equals(word, old, StringComparison.OrdinalIgnoreCase));
        return old.Length > 0 && char.IsLower(old[0]) ? word.ToLowerInvariant() : word;
    }
}
