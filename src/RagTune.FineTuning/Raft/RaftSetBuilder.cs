namespace RagTune.FineTuning.Raft;

/// <summary>A passage as the retriever returned it: a stable id (the chunk's) and its text.</summary>
/// <param name="Id">The chunk's stable id.</param>
/// <param name="Text">The passage text.</param>
public sealed record RaftPassage(string Id, string Text);

/// <summary>
/// A training question for the RAFT set: its reference answers, the gold passage that holds the answer, and the
/// retriever's candidates for the question in rank order (distractors are mined from them).
/// </summary>
public sealed record RaftQuestion(string Question, IReadOnlyList<string> Answers, RaftPassage Gold, IReadOnlyList<RaftPassage> Candidates);

/// <summary>
/// One RAFT example: the question, the passages shown in order, where the gold passage is among them (null when it
/// was left out), and the target answer (a quote from the gold passage citing it as <c>[n]</c>, or the bare reference
/// answer when the gold passage is absent).
/// </summary>
/// <param name="Question">The training question.</param>
/// <param name="Passages">The passages shown with it, in order (gold and distractors).</param>
/// <param name="GoldIndex">The gold passage's index in <paramref name="Passages"/>; null when it was left out.</param>
/// <param name="Answer">The target answer.</param>
public sealed record RaftExample(string Question, IReadOnlyList<RaftPassage> Passages, int? GoldIndex, string Answer);

/// <summary>RAFT set settings. Defaults documented per property.</summary>
public sealed record RaftOptions
{
    /// <summary>
    /// P: the share of examples whose passages include the gold one. Default 0.8; Zhang et al. 2024 (RAFT, arXiv
    /// 2403.10131) found 0.6-0.8 best: the rest teach the model to hold the fact itself instead of always copying.
    /// </summary>
    public double GoldShare { get; init; } = 0.8;

    /// <summary>Distractors per example. Default 2. Examples without the gold passage get one more, so every prompt shows the same number of passages.</summary>
    public int Distractors { get; init; } = 2;

    /// <summary>
    /// Whether an answer quotes the gold passage's sentence that holds it (RAFT's own format, the default) or is the
    /// reference answer alone, cited: the short form suits short-answer questions scored by token F1, which counts a
    /// quoted sentence's other words against it.
    /// </summary>
    public bool ShortAnswers { get; init; }

    /// <summary>Seed for which examples keep the gold passage and where it goes. Default 42.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (GoldShare is < 0 or > 1 || double.IsNaN(GoldShare)) throw new ArgumentException($"RaftOptions.GoldShare must be in [0, 1] (got {GoldShare}).");
        if (Distractors < 0) throw new ArgumentException($"RaftOptions.Distractors must be zero or more (got {Distractors}).");
    }
}

/// <summary>
/// Builds a RAFT training set (Zhang et al. 2024): each question with its gold passage among distractors that our own
/// retriever ranked high for it, so the model learns to find and quote the passage that answers, and to ignore
/// plausible wrong ones. The passages come in as data: this layer knows no retriever.
/// </summary>
public static class RaftSetBuilder
{
    /// <summary>
    /// One example per question, in question order: a seeded <see cref="RaftOptions.GoldShare"/> of them show the gold
    /// passage at a random place among <see cref="RaftOptions.Distractors"/> distractors, the rest one more distractor instead.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static List<RaftExample> Build(IReadOnlyList<RaftQuestion> questions, RaftOptions options)
    {
        ArgumentNullException.ThrowIfNull(questions);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var rng = new Random(unchecked((int)(options.Seed ^ (options.Seed >> 32))));
        // Exactly round(P·n) examples keep the gold passage, chosen by a seeded shuffle, so the share is the one asked for.
        var order = Enumerable.Range(0, questions.Count).ToArray();
        rng.Shuffle(order);
        var withGold = new HashSet<int>(order.Take((int)Math.Round(options.GoldShare * questions.Count)));
        var examples = new List<RaftExample>(questions.Count);
        for (int i = 0; i < questions.Count; i++)
        {
            var q = questions[i];
            bool gold = withGold.Contains(i);
            var distractors = Distractors(q, options.Distractors + (gold ? 0 : 1));
            var passages = new List<RaftPassage>(distractors);
            int? goldIndex = null;
            if (gold)
            {
                goldIndex = rng.Next(passages.Count + 1);
                passages.Insert(goldIndex.Value, q.Gold);
            }
            var answer = options.ShortAnswers
                ? gold ? $"{q.Answers[0].Trim()} [{goldIndex!.Value + 1}]" : q.Answers[0].Trim()
                : gold ? $"{Quote(q.Gold.Text, q.Answers)} [{goldIndex!.Value + 1}]" : AnswerSentence(q.Answers[0]);
            examples.Add(new RaftExample(q.Question, passages, goldIndex, answer));
        }
        return examples;
    }

    /// <summary>
    /// The first <paramref name="count"/> candidates that are not the gold passage and do not contain a reference
    /// answer (such a passage is gold too, and showing it as a distractor would teach the model to ignore the answer).
    /// </summary>
    internal static List<RaftPassage> Distractors(RaftQuestion q, int count)
    {
        var result = new List<RaftPassage>(count);
        foreach (var c in q.Candidates)
        {
            if (result.Count == count) break;
            if (c.Id == q.Gold.Id || ContainsAnswer(c.Text, q.Answers) || result.Any(r => r.Id == c.Id)) continue;
            result.Add(c);
        }
        return result;
    }

    /// <summary>True when <paramref name="text"/> contains one of the non-blank <paramref name="answers"/> (trimmed, case-insensitive).</summary>
    public static bool ContainsAnswer(string text, IReadOnlyList<string> answers) =>
        answers.Any(a => a.Trim().Length > 0 && text.Contains(a.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The gold passage's first sentence that contains an answer (the quote RAFT answers with), else the answer itself.</summary>
    internal static string Quote(string passage, IReadOnlyList<string> answers)
    {
        foreach (var sentence in Sentences(passage))
            if (ContainsAnswer(sentence, answers)) return sentence;
        return AnswerSentence(answers[0]);
    }

    private static string AnswerSentence(string answer)
    {
        var a = answer.Trim();
        return a.EndsWith('.') ? a : a + ".";
    }

    private static IEnumerable<string> Sentences(string text)
    {
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            bool end = text[i] == '\n' || (text[i] is '.' or '!' or '?' && (i + 1 == text.Length || char.IsWhiteSpace(text[i + 1])));
            if (!end) continue;
            var s = text[start..(i + 1)].Trim().TrimStart('#', '-', '*', ' ');
            if (s.Length > 0) yield return s;
            start = i + 1;
        }
        var tail = text[start..].Trim();
        if (tail.Length > 0) yield return tail;
    }
}
