namespace RagTune.Evaluation.Experiments;

/// <summary>
/// Train/test split by fact: every wording of a fact (the question and its paraphrases) lands on the same side, so a
/// test question is never a rewording of a training one and memorised wording cannot pass for knowledge.
/// </summary>
internal static class FactSplit
{
    /// <summary>
    /// Shuffles the distinct facts with <paramref name="seed"/> and sends round(<paramref name="testShare"/> × facts)
    /// of them (at least one, and at least one left for training) to the test set. Order within each side is file order.
    /// </summary>
    public static (List<ExperimentQuestion> Train, List<ExperimentQuestion> Test) Split(IReadOnlyList<ExperimentQuestion> questions, double testShare, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(questions);
        if (testShare is <= 0 or >= 1 || double.IsNaN(testShare))
            throw new ArgumentOutOfRangeException(nameof(testShare), testShare, "The test share must be between 0 and 1, e.g. 0.3.");
        var facts = questions.Select(q => q.FactId).Distinct(StringComparer.Ordinal).ToArray();
        if (facts.Length < 2)
            throw new ArgumentException($"The questions cover {facts.Length} fact(s); a split by fact needs at least two (one to train on, one to test).");
        // Facts are sorted before shuffling so the split depends on the set of facts and the seed, not on file order.
        Array.Sort(facts, StringComparer.Ordinal);
        new Random(unchecked((int)(seed ^ (seed >> 32)))).Shuffle(facts);
        int test = Math.Clamp((int)Math.Round(testShare * facts.Length), 1, facts.Length - 1);
        var testFacts = new HashSet<string>(facts.Take(test), StringComparer.Ordinal);
        var train = new List<ExperimentQuestion>();
        var tests = new List<ExperimentQuestion>();
        foreach (var q in questions) (testFacts.Contains(q.FactId) ? tests : train).Add(q);
        return (train, tests);
    }
}
