using System.Text;
using static RagTune.Evaluation.Experiments.ReportFormat;

namespace RagTune.Evaluation.Experiments;

/// <summary>report.md: the recommendation, its reasons and every table, in GitHub-flavoured Markdown.</summary>
internal static class MarkdownReport
{
    public static string Render(ExperimentResults r)
    {
        var sb = new StringBuilder();
        var run = r.Run;
        sb.Append("# Experiment: ").Append(Inline(run.Name)).Append("\n\n");
        foreach (var line in ReportSections.Facts(r)) sb.Append("- ").Append(Inline(line)).Append('\n');
        sb.Append("\n## Recommendation\n\n").Append(Inline(r.Recommendation.Summary)).Append("\n\n");
        foreach (var reason in r.Recommendation.Reasons) sb.Append("- ").Append(Inline(reason)).Append('\n');
        sb.Append('\n');
        foreach (var (heading, table) in ReportTables.All(r))
        {
            sb.Append("## ").Append(heading).Append("\n\n");
            Table(sb, table);
            if (heading == "Data efficiency")
                foreach (var line in ReportTables.FitLines(r)) sb.Append("- ").Append(Inline(line)).Append('\n');
            sb.Append('\n');
        }
        if (run.Notes.Count > 0)
        {
            sb.Append("## Notes\n\n");
            foreach (var note in run.Notes) sb.Append("- ").Append(Inline(note)).Append('\n');
            sb.Append('\n');
        }
        sb.Append("Every raw answer and score is in results.json.\n");
        return sb.ToString();
    }

    private static void Table(StringBuilder sb, ReportTable t)
    {
        sb.Append('*').Append(Inline(t.Caption)).Append("*\n\n");
        sb.Append("| ").AppendJoin(" | ", t.Headers.Select(Inline)).Append(" |\n");
        sb.Append('|').AppendJoin('|', t.Headers.Select(_ => "---")).Append("|\n");
        foreach (var row in t.Rows) sb.Append("| ").AppendJoin(" | ", row.Select(Inline)).Append(" |\n");
        sb.Append('\n');
    }

    // User text (names, errors) must not break a table row or inject HTML into a Markdown viewer.
    private static string Inline(string text) => text
        .Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal)
        .Replace("|", "\\|", StringComparison.Ordinal).Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}

/// <summary>Report parts shared by the Markdown and HTML writers.</summary>
internal static class ReportSections
{
    /// <summary>What was run: model, date, question counts, constraints and analysis settings.</summary>
    public static IEnumerable<string> Facts(ExperimentResults r)
    {
        var run = r.Run;
        var c = run.Constraints;
        yield return $"model: {run.Model}";
        yield return $"started: {run.Started.ToString("yyyy-MM-dd HH:mm:ss zzz", System.Globalization.CultureInfo.InvariantCulture)}";
        int para = run.TestQuestions.Count(q => q.IsParaphrase), unans = run.TestQuestions.Count(q => !q.Answerable);
        yield return $"questions: {run.TrainQuestions.Count} for training, {run.TestQuestions.Count} for testing ({para} paraphrased, {unans} unanswerable), split by fact";
        yield return $"constraints: latency budget {(c.LatencyBudgetMs is { } b ? Ms(b) : "none")}, knowledge changes {Plain(c.UpdatesPerMonth)}x/month, "
            + $"labelled examples affordable {(c.LabelledExamplesAffordable is { } n ? Count(n) : "unlimited")}, citations {(c.CitationsRequired ? "required" : "not required")}, compute {Money(c.ComputePricePerHour)}/hour";
        yield return $"analysis: primary metric {r.PrimaryMetricName}, {Plain(r.Options.Confidence * 100)}% bootstrap intervals ({Count(r.Options.Resamples)} resamples, seed {r.Options.Seed}), "
            + $"paired permutation tests at α = {Plain(r.Options.Alpha)}, a wrong answer is F1 below {Plain(r.Options.CorrectF1)} without the gold answer in it";
    }
}
