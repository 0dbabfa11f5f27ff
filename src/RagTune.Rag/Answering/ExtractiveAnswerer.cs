using RagTune.Rag.Store;
using RagTune.Rag.Text;

namespace RagTune.Rag.Answering;

/// <summary>A short answer span for QA evaluation: the span, the sentence it came from, its source number and the sentence score.</summary>
public sealed record ShortAnswer(string Text, string Sentence, int SourceNumber, double Score);

/// <summary>
/// Answers without a language model by quoting source sentences (<c>--extractive</c>, and the fallback when no
/// model is configured). Candidate sentences come from the first <see cref="AnswererOptions.MaxSources"/> sources
/// (heading lines skipped); each scores <c>Σ idf(t)</c> over the distinct question content terms t it contains,
/// with <c>idf(t) = ln(1 + N / df(t))</c> over the N candidate sentences, divided by the same sum over all question
/// terms (so 1 = every question term present). Citation markers inside a passage are removed before quoting
/// (<see cref="CitationVerifier.RemovePassageCitations"/>), so the answer cites only our source numbers. Sentences scoring below
/// <see cref="AnswererOptions.AbstainThreshold"/> are not used; no sentence left means abstention.
/// </summary>
public sealed class ExtractiveAnswerer
{
    private readonly AnswererOptions _options;

    /// <summary>Creates the answerer; options are validated.</summary>
    public ExtractiveAnswerer(AnswererOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>The best <paramref name="maxSentences"/> sentences, each followed by its citation.</summary>
    public GroundedAnswer Answer(string question, IReadOnlyList<SearchHit> sources, int maxSentences = 2)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(sources);
        var numbered = GroundedAnswerer.Number(sources, _options.MaxSources);
        var ranked = Rank(question, numbered).Where(c => c.Score >= _options.AbstainThreshold && c.Score > 0).Take(Math.Max(1, maxSentences)).ToList();
        if (ranked.Count == 0) return GroundedAnswerer.Abstention(numbered);
        var text = new System.Text.StringBuilder();
        var sentences = new List<AnswerSentence>();
        foreach (var c in ranked)
        {
            if (text.Length > 0) text.Append(' ');
            var start = text.Length;
            text.Append(c.Sentence).Append(" [").Append(c.Source).Append(']');
            sentences.Add(new AnswerSentence(text.ToString(start, text.Length - start), start, text.Length, [c.Source], [], 1, true));
        }
        return new GroundedAnswer(text.ToString(), sentences, numbered, false, "extractive") { Usage = GroundedAnswer.NoTokens() };
    }

    /// <summary>
    /// The best sentence and, inside it, a short span: the sentence's words are cut into runs at question content
    /// terms and at clause punctuation (, ; : ( ) — –); stopwords are trimmed from run ends; the run nearest (in
    /// words) to the matched question terms wins, with a bonus when it fits the question word (digits for
    /// when/how many/how much/what year, a capitalised word for who/where) and a small penalty per word beyond
    /// four; for number questions the span is cut to its first..last word holding a digit. No matched term or no run → the whole sentence. Null when no sentence matches at all.
    /// </summary>
    public ShortAnswer? ExtractShortAnswer(string question, IReadOnlyList<SearchHit> sources)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(sources);
        var numbered = GroundedAnswerer.Number(sources, _options.MaxSources);
        var best = Rank(question, numbered).FirstOrDefault();
        if (best.Sentence == null || best.Score <= 0) return null;
        return new ShortAnswer(ShortSpan(question, best.Sentence), best.Sentence, best.Source, best.Score);
    }

    internal static string ShortSpan(string question, string sentence)
    {
        var q = Terms.ContentSet(question);
        var words = Terms.Analyze(sentence);
        var matched = words.Select(w => !w.IsStopword && q.Contains(w.Term)).ToArray();
        var matchedIdx = Enumerable.Range(0, words.Count).Where(i => matched[i]).ToList();
        if (matchedIdx.Count == 0) return sentence;
        var runs = new List<(int From, int To)>();
        var from = -1;
        for (var i = 0; i <= words.Count; i++)
        {
            var breaks = i == words.Count || matched[i] || (i > 0 && from >= 0 && ClauseBreak(sentence, words[i - 1].End, words[i].Start));
            if (breaks && from >= 0)
            {
                runs.Add((from, i - 1));
                from = -1;
            }
            if (i < words.Count && !matched[i] && from < 0) from = i;
        }
        var qLower = question.ToLowerInvariant();
        var wantsNumber = qLower.Contains("when", StringComparison.Ordinal) || qLower.Contains("how many", StringComparison.Ordinal)
                          || qLower.Contains("how much", StringComparison.Ordinal) || qLower.Contains("what year", StringComparison.Ordinal);
        var wantsName = qLower.StartsWith("who", StringComparison.Ordinal) || qLower.StartsWith("where", StringComparison.Ordinal) || qLower.Contains(" who ", StringComparison.Ordinal);
        var bestScore = double.NegativeInfinity;
        (int From, int To) bestRun = (-1, -1);
        foreach (var (f0, t0) in runs)
        {
            var f = f0;
            var t = t0;
            while (f <= t && words[f].IsStopword) f++;
            while (t >= f && words[t].IsStopword) t--;
            if (f > t) continue;
            var distance = matchedIdx.Min(m => m < f ? f - m : m > t ? m - t : 0);
            var len = t - f + 1;
            var span = sentence[words[f].Start..words[t].End];
            double score = -distance - 0.25 * Math.Max(0, len - 4);
            if (wantsNumber && span.Any(char.IsDigit)) score += 2;
            if (wantsName && char.IsUpper(sentence[words[f].Start])) score += 1.5;
            if (score > bestScore) { bestScore = score; bestRun = (f, t); }
        }
        if (bestRun.From < 0) return sentence;
        var (lo, hi) = bestRun;
        if (wantsNumber)
        {
            // Keep only the numeric part ("in 1889 in Paris" → "1889").
            var digits = Enumerable.Range(lo, hi - lo + 1).Where(i => sentence.AsSpan(words[i].Start, words[i].End - words[i].Start).IndexOfAnyInRange('0', '9') >= 0).ToList();
            if (digits.Count > 0) (lo, hi) = (digits[0], digits[^1]);
        }
        return sentence[words[lo].Start..words[hi].End];
    }

    private static bool ClauseBreak(string s, int from, int to)
    {
        for (var i = from; i < to; i++)
            if (s[i] is ',' or ';' or ':' or '(' or ')' or '—' or '–' or '.' or '!' or '?' or '"') return true;
        return false;
    }

    /// <summary>Candidate sentences ranked by normalised IDF-weighted question-term overlap (ties: source order, position).</summary>
    internal static List<(string Sentence, int Source, double Score)> Rank(string question, IReadOnlyList<AnswerSource> sources)
    {
        var q = Terms.ContentSet(question);
        var candidates = new List<(string Text, int Source, HashSet<string> Terms)>();
        foreach (var s in sources)
            foreach (var (start, end) in CitationVerifier.SplitSentences(s.Text))
            {
                // The passage's own markers go: a quoted "… cite [9]" must not read as our citation.
                var sentence = CitationVerifier.RemovePassageCitations(s.Text[start..end]).Trim();
                if (sentence.Length == 0 || sentence.StartsWith('#')) continue;
                candidates.Add((sentence, s.Number, Terms.ContentSet(sentence)));
            }
        if (q.Count == 0 || candidates.Count == 0) return [];
        var n = candidates.Count;
        var idf = q.ToDictionary(t => t, t => Math.Log(1 + (double)n / Math.Max(1, candidates.Count(c => c.Terms.Contains(t)))), StringComparer.Ordinal);
        var total = idf.Values.Sum();
        return candidates
            .Select((c, i) => (c.Text, c.Source, Score: q.Where(c.Terms.Contains).Sum(t => idf[t]) / total, Index: i))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Index)
            .Select(x => (x.Text, x.Source, x.Score))
            .ToList();
    }
}
