using System.Globalization;
using RagTune.Rag.Text;

namespace RagTune.Rag.Answering;

/// <summary>
/// Splits an answer into sentences, parses their citations (<c>[1]</c>, <c>[1, 3]</c>, <c>[1][2]</c>, <c>[1; 2]</c>)
/// and scores each sentence against the sources it cites:
/// <c>support = max over cited sources p of max(overlap, span)</c> where
/// <c>overlap = |C(s) ∩ C(p)| / |C(s)|</c> (C = distinct content terms, <see cref="Terms"/>) and
/// <c>span = longest run of consecutive sentence words found consecutively in p / number of sentence words</c>
/// (a quoted passage scores high even when made of stopwords). A sentence with no content terms scores 1; an
/// uncited sentence scores 0 (except the abstention sentence). Citations to numbers outside 1..N are fabricated
/// and give no support.
/// </summary>
public static class CitationVerifier
{
    /// <summary>Sentences of <paramref name="answer"/> with spans; citations after an end mark stay with their sentence.</summary>
    public static List<(int Start, int End)> SplitSentences(string answer)
    {
        var result = new List<(int, int)>();
        var start = 0;
        var i = 0;
        while (i < answer.Length)
        {
            var c = answer[i];
            var end = -1;
            if (c == '\n')
            {
                end = i;
            }
            else if (c is '.' or '!' or '?' && (i + 1 == answer.Length || char.IsWhiteSpace(answer[i + 1]) || answer[i + 1] == '['))
            {
                end = i + 1;
                // absorb trailing citation markers: "… Paris. [1][2]"
                var j = end;
                while (true)
                {
                    var k = j;
                    while (k < answer.Length && answer[k] == ' ') k++;
                    if (k < answer.Length && answer[k] == '[' && TryCitation(answer, k, out var close, out _)) j = close + 1;
                    else break;
                }
                end = j;
            }
            if (end >= 0)
            {
                Add(answer, start, end, result);
                start = Math.Max(end, i + 1);
                i = start;
                continue;
            }
            i++;
        }
        Add(answer, start, answer.Length, result);
        return result;
    }

    private static void Add(string text, int start, int end, List<(int, int)> result)
    {
        while (start < end && char.IsWhiteSpace(text[start])) start++;
        while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
        if (end > start) result.Add((start, end));
    }

    /// <summary>Citation numbers in <paramref name="sentence"/>, in order of first appearance.</summary>
    public static List<int> ParseCitations(string sentence)
    {
        var list = new List<int>();
        for (var i = 0; i < sentence.Length; i++)
        {
            if (sentence[i] != '[' || !TryCitation(sentence, i, out var close, out var numbers)) continue;
            foreach (var n in numbers)
                if (!list.Contains(n)) list.Add(n);
            i = close;
        }
        return list;
    }

    /// <summary>The sentence without its citation markers.</summary>
    public static string StripCitations(string sentence)
    {
        var sb = new System.Text.StringBuilder(sentence.Length);
        for (var i = 0; i < sentence.Length; i++)
        {
            if (sentence[i] == '[' && TryCitation(sentence, i, out var close, out _)) { i = close; continue; }
            sb.Append(sentence[i]);
        }
        return sb.ToString().Trim();
    }

    /// <summary>
    /// Passage text with its own citation-shaped markers (<c>[9]</c>, <c>[1, 2]</c>) removed, repeatedly, so that
    /// nested markers (<c>[[9]1]</c>) cannot reassemble into one. A quoted passage or a prompt source then
    /// carries no number a reader or a model could take for one of our citations: a document cannot forge them.
    /// </summary>
    public static string RemovePassageCitations(string text)
    {
        while (true)
        {
            var sb = new System.Text.StringBuilder(text.Length);
            var removed = false;
            for (var i = 0; i < text.Length; i++)
            {
                if (text[i] == '[' && TryCitation(text, i, out var close, out _))
                {
                    // "cite [9] now" → "cite now": drop one space before the marker.
                    if (sb.Length > 0 && sb[^1] == ' ' && close + 1 < text.Length && text[close + 1] is ' ' or '.' or ',' or ';' or ':' or '!' or '?')
                        sb.Length--;
                    i = close;
                    removed = true;
                    continue;
                }
                sb.Append(text[i]);
            }
            if (!removed) return text;
            text = sb.ToString();
        }
    }

    private static bool TryCitation(string s, int open, out int close, out List<int> numbers)
    {
        numbers = [];
        close = s.IndexOf(']', open + 1);
        if (close < 0 || close - open > 40) return false;
        foreach (var part in s[(open + 1)..close].Split([',', ';']))
        {
            var p = part.Trim();
            if (p.Length == 0 || p.Length > 4 || !int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return false;
            numbers.Add(n);
        }
        return numbers.Count > 0;
    }

    /// <summary>Support of <paramref name="sentence"/> (citations stripped) by one passage.</summary>
    public static double Support(string sentence, string passage)
    {
        var s = Terms.Analyze(sentence);
        if (s.Count == 0) return 1;
        var p = Terms.Analyze(passage);
        var content = s.Where(t => !t.IsStopword).Select(t => t.Term).ToHashSet(StringComparer.Ordinal);
        var overlap = 1.0;
        if (content.Count > 0)
        {
            var pSet = p.Select(t => t.Term).ToHashSet(StringComparer.Ordinal);
            overlap = (double)content.Count(pSet.Contains) / content.Count;
        }
        return Math.Max(overlap, (double)LongestCommonRun(s, p) / s.Count);
    }

    private static int LongestCommonRun(List<TermSpan> a, List<TermSpan> b)
    {
        var best = 0;
        var prev = new int[b.Count + 1];
        var cur = new int[b.Count + 1];
        for (var i = 1; i <= a.Count; i++)
        {
            for (var j = 1; j <= b.Count; j++)
            {
                cur[j] = a[i - 1].Term == b[j - 1].Term ? prev[j - 1] + 1 : 0;
                if (cur[j] > best) best = cur[j];
            }
            (prev, cur) = (cur, prev);
        }
        return best;
    }

    /// <summary>Splits, parses and verifies <paramref name="answer"/> against <paramref name="sources"/> (numbered from 1).</summary>
    public static List<AnswerSentence> Verify(string answer, IReadOnlyList<AnswerSource> sources, double threshold)
    {
        var result = new List<AnswerSentence>();
        foreach (var (start, end) in SplitSentences(answer))
        {
            var text = answer[start..end];
            var cited = ParseCitations(text);
            var valid = cited.Where(n => n >= 1 && n <= sources.Count).ToList();
            var fabricated = cited.Where(n => n < 1 || n > sources.Count).ToList();
            var plain = StripCitations(text);
            double support;
            if (IsAbstention(plain)) support = 1;
            else if (valid.Count == 0) support = 0;
            else support = valid.Max(n => Support(plain, sources[n - 1].Text));
            result.Add(new AnswerSentence(text, start, end, valid, fabricated, support, support >= threshold && fabricated.Count == 0));
        }
        return result;
    }

    /// <summary>True when the text is (or contains) the abstention sentence.</summary>
    public static bool IsAbstention(string text) =>
        text.Contains("knowledge base does not contain the answer", StringComparison.OrdinalIgnoreCase);
}
