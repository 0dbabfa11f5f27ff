using RagTune.FineTuning.Training;

namespace RagTune.FineTuning.Datasets;

/// <summary>Train/validation split of tokenized examples.</summary>
internal static class DatasetSplit
{
    /// <summary>
    /// Shuffles indices with <paramref name="seed"/> and holds out round(fraction·n) examples (at least one when
    /// the fraction is positive and there are two or more), returned in file order so reports stay readable.
    /// </summary>
    public static (List<TokenizedExample> Train, List<TokenizedExample> Validation) Split(IReadOnlyList<TokenizedExample> examples, double fraction, ulong seed)
    {
        if (fraction is < 0 or >= 1 || double.IsNaN(fraction))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The validation split must be in [0, 1), e.g. 0.1.");
        int n = examples.Count;
        int val = fraction == 0 || n < 2 ? 0 : Math.Clamp((int)Math.Round(fraction * n), 1, n - 1);
        var order = Enumerable.Range(0, n).ToArray();
        new TrainingRng(seed ^ 0x5EED_5B11_7000_0000UL).Shuffle(order);
        var held = new HashSet<int>(order.Take(val));
        var train = new List<TokenizedExample>(n - val);
        var validation = new List<TokenizedExample>(val);
        for (int i = 0; i < n; i++)
            (held.Contains(i) ? validation : train).Add(examples[i]);
        return (train, validation);
    }
}
