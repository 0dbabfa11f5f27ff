using RagTune.Evaluation.Answers;
using RagTune.Rag.Answering;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// Scores one raw answer against its question: SQuAD exact match and F1 (<see cref="AnswerMetrics"/>), whether the
/// answer contains a reference answer as whole words, groundedness and citation precision through the same
/// <see cref="CitationVerifier"/> the answerer uses, Recall@k of the gold document, abstention and hallucination.
/// </summary>
internal sealed class AnswerScorer(AnalysisOptions options, int recallK)
{
    /// <summary>
    /// True when the normalised <paramref name="prediction"/> holds a normalised gold answer as a run of whole
    /// words ("in Paris, France" contains "Paris"; "Parisian" does not).
    /// </summary>
    public static bool ContainsGold(string prediction, IReadOnlyList<string> golds)
    {
        var padded = " " + AnswerMetrics.Normalize(prediction) + " ";
        foreach (var gold in golds)
        {
            var g = AnswerMetrics.Normalize(gold);
            if (g.Length > 0 && padded.Contains(" " + g + " ", StringComparison.Ordinal)) return true;
        }
        return false;
    }

    /// <summary>True when the answer gives a reference answer: exact, containing it, or at <see cref="AnalysisOptions.CorrectF1"/> or above.</summary>
    public bool IsCorrect(string prediction, IReadOnlyList<string> golds)
    {
        var said = CitationVerifier.StripCitations(prediction);
        return golds.Count > 0 && (ContainsGold(said, golds) || AnswerMetrics.MaxOver(AnswerMetrics.F1, said, golds) >= options.CorrectF1);
    }

    /// <summary>The primary metric of <paramref name="prediction"/> against <paramref name="golds"/>.</summary>
    public double PrimaryOf(string prediction, IReadOnlyList<string> golds) => options.Primary switch
    {
        PrimaryMetric.ExactMatch => AnswerMetrics.MaxOver(AnswerMetrics.ExactMatch, prediction, golds),
        PrimaryMetric.ContainsGold => ContainsGold(prediction, golds) ? 1 : 0,
        _ => AnswerMetrics.MaxOver(AnswerMetrics.F1, prediction, golds),
    };

    /// <summary>Scores <paramref name="answer"/> given by <paramref name="arm"/> to <paramref name="question"/>.</summary>
    public AnswerScore Score(string arm, ExperimentQuestion question, RawAnswer answer)
    {
        bool abstained = answer.Abstained || CitationVerifier.IsAbstention(answer.Text);
        // "[1]" markers are not part of what the answer says; left in, SQuAD normalisation would score them as words.
        var said = CitationVerifier.StripCitations(answer.Text);
        double? em = null, f1 = null, contains = null, primary = null;
        bool correct = false;
        if (question.Answerable)
        {
            em = AnswerMetrics.MaxOver(AnswerMetrics.ExactMatch, said, question.Answers);
            f1 = AnswerMetrics.MaxOver(AnswerMetrics.F1, said, question.Answers);
            contains = ContainsGold(said, question.Answers) ? 1 : 0;
            primary = PrimaryOf(said, question.Answers);
            correct = !abstained && IsCorrect(answer.Text, question.Answers);
        }
        // A hallucination is a confident wrong answer: anything but an abstention to an unanswerable question, or a
        // wrong answer that was not an abstention to an answerable one.
        bool hallucinated = !abstained && (!question.Answerable || !correct);

        var sources = Sources(answer.Passages);
        var sentences = CitationVerifier.Verify(answer.Text, sources, options.SupportThreshold);
        double? groundedness = null;
        if (answer.Passages.Count > 0 && !abstained && sentences.Count > 0)
            groundedness = (double)sentences.Count(s => s.Supported) / sentences.Count;

        int citations = 0, good = 0;
        foreach (var sentence in sentences)
        {
            var plain = CitationVerifier.StripCitations(sentence.Text);
            citations += sentence.FabricatedCitations.Count;
            foreach (var n in sentence.Citations)
            {
                citations++;
                var passage = sources[n - 1].Text;
                if (CitationVerifier.Support(plain, passage) >= options.SupportThreshold || (question.Answerable && ContainsGold(passage, question.Answers)))
                    good++;
            }
        }
        double? precision = citations == 0 ? null : (double)good / citations;

        double? recall = null;
        bool retrieves = ArmNames.Retrieves(arm) || answer.RetrievedDocumentIds.Count > 0;
        if (retrieves && question.Answerable && question.GoldDocumentId is { } gold)
            recall = answer.RetrievedDocumentIds.Take(recallK).Contains(gold, StringComparer.Ordinal) ? 1 : 0;

        return new AnswerScore(question.Id, question.Answerable, question.IsParaphrase, em, f1, contains, primary, correct,
            abstained, hallucinated, groundedness, citations, sentences.Any(x => x.Citations.Count > 0), precision, recall, answer.RetrievalMs + answer.PromptMs + answer.GenerationMs);
    }

    // CitationVerifier reads citation n as sources[n - 1]; a gap in the shown numbering becomes an empty passage, so a
    // citation of it supports nothing rather than shifting every later citation onto the wrong passage.
    private static List<AnswerSource> Sources(IReadOnlyList<ShownPassage> passages)
    {
        var list = new List<AnswerSource>();
        if (passages.Count == 0) return list;
        int max = passages.Max(p => p.Number);
        for (int n = 1; n <= max; n++)
        {
            var p = passages.FirstOrDefault(x => x.Number == n);
            list.Add(p is null
                ? new AnswerSource(n, -1, "", "", "", 0, 0, "")
                : new AnswerSource(n, p.ChunkId, p.DocumentId, p.DocumentId, p.DocumentId, 0, p.Text.Length, p.Text));
        }
        return list;
    }
}
