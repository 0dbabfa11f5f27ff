using System.Globalization;
using System.Text;
using static RagTune.Evaluation.Experiments.ReportFormat;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// report.html: one self-contained file (inline CSS and SVG, no scripts, no external assets), written as
/// well-formed XHTML-style markup so any XML parser can check it. All user text passes through
/// <see cref="HtmlText.Escape"/>.
/// </summary>
internal static class HtmlReport
{
    private const string Css = """
        body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
        table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
        caption { text-align: left; font-style: italic; padding: 0.25rem 0; }
        th, td { border: 1px solid #c8c8c8; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
        th { background: #f0f0f0; }
        .summary { font-size: 1.15rem; font-weight: 600; }
        figure { margin: 1rem 0; }
        figcaption { font-size: 0.9rem; color: #444; }
        details { margin: 0.5rem 0; }
        """;

    public static string Render(ExperimentResults r)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
        sb.Append("<title>RagTune experiment: ").Append(HtmlText.Escape(r.Run.Name)).Append("</title>\n");
        sb.Append("<style>\n").Append(Css).Append("\n</style>\n</head>\n<body>\n<main>\n");
        sb.Append("<h1>Experiment: ").Append(HtmlText.Escape(r.Run.Name)).Append("</h1>\n<ul>\n");
        foreach (var line in ReportSections.Facts(r)) sb.Append("<li>").Append(HtmlText.Escape(line)).Append("</li>\n");
        sb.Append("</ul>\n<section aria-labelledby=\"recommendation\">\n<h2 id=\"recommendation\">Recommendation</h2>\n<p class=\"summary\">")
            .Append(HtmlText.Escape(r.Recommendation.Summary)).Append("</p>\n<ul>\n");
        foreach (var reason in r.Recommendation.Reasons) sb.Append("<li>").Append(HtmlText.Escape(reason)).Append("</li>\n");
        sb.Append("</ul>\n</section>\n");

        int n = 0;
        foreach (var (heading, table) in ReportTables.All(r))
        {
            string id = "section-" + (++n).ToString(CultureInfo.InvariantCulture);
            sb.Append("<section aria-labelledby=\"").Append(id).Append("\">\n<h2 id=\"").Append(id).Append("\">").Append(HtmlText.Escape(heading)).Append("</h2>\n");
            Table(sb, table);
            if (heading == "Data efficiency")
            {
                sb.Append("<ul>\n");
                foreach (var line in ReportTables.FitLines(r)) sb.Append("<li>").Append(HtmlText.Escape(line)).Append("</li>\n");
                sb.Append("</ul>\n");
            }
            foreach (var chart in ChartsFor(heading, r)) Figure(sb, chart);
            sb.Append("</section>\n");
        }
        if (r.Run.Notes.Count > 0)
        {
            sb.Append("<section aria-labelledby=\"notes\">\n<h2 id=\"notes\">Notes</h2>\n<ul>\n");
            foreach (var note in r.Run.Notes) sb.Append("<li>").Append(HtmlText.Escape(note)).Append("</li>\n");
            sb.Append("</ul>\n</section>\n");
        }
        Answers(sb, r);
        sb.Append("</main>\n</body>\n</html>\n");
        return sb.ToString();
    }

    private static IEnumerable<string?> ChartsFor(string heading, ExperimentResults r) => heading switch
    {
        "Metrics" => [ReportCharts.Accuracy(r)],
        "Latency" => [ReportCharts.Latency(r)],
        "Training" => [ReportCharts.Loss(r)],
        "Cost" => [ReportCharts.CostVersusUpdates(r)],
        "Freshness" => [ReportCharts.Freshness(r)],
        "Data efficiency" => [ReportCharts.LearningCurve(r)],
        _ => [],
    };

    private static void Figure(StringBuilder sb, string? svg)
    {
        if (svg is null) return;
        // The chart's <title> doubles as the visible caption.
        int start = svg.IndexOf("-title\">", StringComparison.Ordinal) + 8;
        string caption = svg[start..svg.IndexOf("</title>", start, StringComparison.Ordinal)];
        sb.Append("<figure>\n").Append(svg).Append("<figcaption>").Append(caption).Append("</figcaption>\n</figure>\n");
    }

    private static void Table(StringBuilder sb, ReportTable t)
    {
        sb.Append("<table>\n<caption>").Append(HtmlText.Escape(t.Caption)).Append("</caption>\n<thead><tr>");
        foreach (var h in t.Headers) sb.Append("<th scope=\"col\">").Append(HtmlText.Escape(h)).Append("</th>");
        sb.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in t.Rows)
        {
            sb.Append("<tr>");
            for (int i = 0; i < row.Count; i++)
                sb.Append(i == 0 ? "<th scope=\"row\">" : "<td>").Append(HtmlText.Escape(row[i])).Append(i == 0 ? "</th>" : "</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</tbody>\n</table>\n");
    }

    // Every answer with its scores, one collapsible table per arm, so a reader can audit any figure.
    private static void Answers(StringBuilder sb, ExperimentResults r)
    {
        var questions = r.Run.TestQuestions.ToDictionary(q => q.Id, StringComparer.Ordinal);
        sb.Append("<section aria-labelledby=\"answers\">\n<h2 id=\"answers\">Answers</h2>\n");
        foreach (var arm in r.Run.Arms)
        {
            var scores = r.Arm(arm.Arm)?.Scores.ToDictionary(s => s.QuestionId, StringComparer.Ordinal) ?? [];
            sb.Append("<details>\n<summary>").Append(HtmlText.Escape($"{arm.Arm}: {arm.Answers.Count} answers")).Append("</summary>\n");
            Table(sb, new ReportTable($"Answers of {arm.Arm}",
                ["question", "reference", "answer", "F1", "correct", "abstained", "hallucinated", "citations", "groundedness"],
                arm.Answers.Select(a =>
                {
                    var q = questions.GetValueOrDefault(a.QuestionId);
                    var s = scores.GetValueOrDefault(a.QuestionId);
                    return (IReadOnlyList<string>)[
                        q is null ? a.QuestionId : $"{q.Text}{(q.IsParaphrase ? " (paraphrase)" : "")}",
                        q is null ? "" : q.Answerable ? string.Join(" | ", q.Answers) : "(unanswerable)",
                        a.Text,
                        Num(s?.F1), YesNo(s?.Correct), YesNo(s?.Abstained), YesNo(s?.Hallucinated),
                        s is null ? "" : s.Citations.ToString(CultureInfo.InvariantCulture), Num(s?.Groundedness)];
                }).ToList()));
            sb.Append("</details>\n");
        }
        sb.Append("</section>\n");
    }

    private static string YesNo(bool? b) => b is null ? "" : b.Value ? "yes" : "no";
}
