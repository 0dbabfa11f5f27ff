using System.Text;

namespace RagTune.Evaluation.Answers;

/// <summary>
/// Exact match and token F1 exactly as the official SQuAD v1.1 evaluation script computes them
/// (evaluate-v1.1.py: lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace;
/// the best score over the gold answers).
/// </summary>
public static class AnswerMetrics
{
    private const string AsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"; // Python's string.punctuation

    /// <paramref name="text"/> as evaluate-v1.1.py normalises it: lower-cased, ASCII punctuation and the articles a/an/the dropped, whitespace collapsed.
    public static string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char ch in text.ToLowerInvariant())
            if (!AsciiPunctuation.Contains(ch)) sb.Append(ch);
        // Python's str.split() splits on any Unicode whitespace; articles are removed as whole words.
        var words = sb.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(w => w is not ("a" or "an" or "the"));
        return string.Join(' ', words);
    }

    /// <summary>1 when the normalised prediction equals the normalised gold answer, else 0.</summary>
    public static double ExactMatch(string prediction, string gold) => Normalize(prediction) == Normalize(gold) ? 1 : 0;

    /// <summary>Token F1 of the normalised prediction against the normalised gold answer.</summary>
    public static double F1(string prediction, string gold)
    {
        var pred = Normalize(prediction).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var truth = Normalize(gold).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in truth) counts[t] = counts.GetValueOrDefault(t) + 1;
        int same = 0;
        foreach (var p in pred)
            if (counts.TryGetValue(p, out int c) && c > 0) { counts[p] = c - 1; same++; }
        if (same == 0) return 0;
        double precision = (double)same / pred.Length, recall = (double)same / truth.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>The best <paramref name="metric"/> score of <paramref name="prediction"/> over <paramref name="golds"/>.</summary>
    public static double MaxOver(Func<string, string, double> metric, string prediction, IReadOnlyList<string> golds) =>
        golds.Count == 0 ? 0 : golds.Max(g => metric(prediction, g));
}
