using System.Xml;
using System.Xml.Linq;
using RagTune.Evaluation.Experiments;
using RagTune.TestKit;
using static RagTune.Evaluation.Tests.Experiments.RunBuilder;

namespace RagTune.Evaluation.Tests.Experiments;

public sealed class ExperimentReportTests
{
    private const string Hostile = "What is <script>alert('x')</script> & \"more\"?";

    /// <summary>A run with every experiment, and a hostile question text and error message.</summary>
    internal static ExperimentRun FullRun()
    {
        var test = Questions(20, paraphrasedFrom: 14);
        test[3] = test[3] with { Text = Hostile };
        test[5] = test[5] with { Text = "Wo liegt das Café in Zürich — nördlich?" };
        test.Add(Question(20, answerable: false));
        var changed = new List<ExperimentQuestion> { test[0] with { Answers = ["new0"] }, test[1] with { Answers = ["new1"] } };
        ArmRun Answers(string arm, params string[] texts) => new(arm, texts.Select((t, i) => new RawAnswer(Id(i), t, false, [], [], 0, 1, 1, 1, 1)).ToList(), null);
        var freshness = new FreshnessRun(["fact0", "fact1"], changed, 3,
            [Answers(ArmNames.Rag, "answer0 [1].", "answer1 [1]."), Answers(ArmNames.FineTuned, "answer0", "answer1")],
            [Answers(ArmNames.Rag, "new0 [1].", "new1 [1]."), Answers(ArmNames.FineTuned, "answer0", "answer1")],
            new Dictionary<string, double> { [ArmNames.Rag] = 3, [ArmNames.FineTuned] = 2400, [ArmNames.FineTunedRag] = 2403 });
        var curve = new DataEfficiencyRun([
            new(0.1, false, Training(10, 240), Enumerable.Range(0, 20).Select(i => ClosedBook(i, i < 2)).ToList()),
            new(1.0, false, Training(100, 2400), Enumerable.Range(0, 20).Select(i => ClosedBook(i, i < 6)).ToList()),
        ]);
        var arms = new List<ArmRun>
        {
            Arm(ArmNames.Base, 20, i => i < 2),
            Arm(ArmNames.Rag, 20, i => i < 16),
            Arm(ArmNames.FineTuned, 20, i => i < 12, Training()),
            Arm(ArmNames.FineTunedRag, 20, i => i < 17, Training()),
            new(ArmNames.RaftRag, [], null, "adapter <raft> failed to load: out of memory"),
        };
        return Run(arms, test, new ExperimentConstraints(LatencyBudgetMs: 2000, CitationsRequired: true), freshness, curve, [new ForgettingRun(ArmNames.FineTuned, 20, 23)])
            with { Notes = ["Published: RAG 0.88 <b>vs</b> fine-tuned 0.50."] };
    }

    [Fact]
    public void The_specs_notes_are_printed_escaped_in_both_reports_and_kept_in_results_json()
    {
        using var dir = new TempDir();
        var paths = ExperimentReport.WriteAll(ExperimentAnalyzer.Analyze(FullRun(), Options), dir.File("out"));
        Assert.Contains("## Notes", File.ReadAllText(paths[1]));
        var html = File.ReadAllText(paths[2]);
        Assert.Contains("<h2 id=\"notes\">Notes</h2>", html);
        Assert.Contains("RAG 0.88 &lt;b&gt;vs&lt;/b&gt; fine-tuned 0.50.", html);
        Assert.Contains("fine-tuned 0.50", File.ReadAllText(paths[0]));
    }

    private static XDocument ParseXhtml(string html)
    {
        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    [Fact]
    public void Writes_three_files_and_the_html_is_well_formed_accessible_and_self_contained()
    {
        using var dir = new TempDir();
        var results = ExperimentAnalyzer.Analyze(FullRun(), Options);
        var paths = ExperimentReport.WriteAll(results, dir.File("out"));
        Assert.Equal(["results.json", "report.md", "report.html"], paths.Select(Path.GetFileName));
        Assert.All(paths, p => Assert.True(File.Exists(p)));

        var html = File.ReadAllText(paths[2]);
        var doc = ParseXhtml(html);
        XNamespace x = "http://www.w3.org/1999/xhtml", svgNs = "http://www.w3.org/2000/svg";
        Assert.Equal("RagTune experiment: test run", doc.Descendants(x + "title").Single().Value);
        var svgs = doc.Descendants(svgNs + "svg").ToList();
        // accuracy, latency, loss, cost, freshness, learning curve
        Assert.Equal(6, svgs.Count);
        foreach (var svg in svgs)
        {
            Assert.Equal("img", (string?)svg.Attribute("role"));
            var labelledBy = ((string?)svg.Attribute("aria-labelledby"))!.Split(' ');
            Assert.All(labelledBy, id => Assert.Single(svg.Descendants(), e => (string?)e.Attribute("id") == id && e.Value.Length > 0));
        }
        // Each chart's description carries its figures for screen readers.
        var accuracy = svgs.Single(s => ((string?)s.Attribute("aria-labelledby"))!.StartsWith("chart-accuracy", StringComparison.Ordinal));
        Assert.Contains($"rag: {ReportFormat.Est(results.Arm(ArmNames.Rag)!.Primary)}", accuracy.Element(svgNs + "desc")!.Value, StringComparison.Ordinal);
        var ids = svgs.Select(s => ((string?)s.Attribute("aria-labelledby"))!).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(doc.Descendants(x + "table"), t => Assert.NotEmpty(t.Element(x + "caption")!.Value));
        Assert.NotEmpty(doc.Descendants(x + "h1"));
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        // The hostile question survives as text.
        Assert.Contains(doc.Descendants(x + "th"), th => th.Value == Hostile);
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);
        Assert.Contains(doc.Descendants(x + "td"), td => td.Value == "adapter <raft> failed to load: out of memory");

        var md = File.ReadAllText(paths[1]);
        Assert.Contains("## Recommendation", md, StringComparison.Ordinal);
        Assert.Contains(results.Recommendation.Summary.Replace("<", "&lt;", StringComparison.Ordinal), md, StringComparison.Ordinal);
        Assert.Contains("adapter &lt;raft&gt; failed", md, StringComparison.Ordinal);
        Assert.Contains("| base |", md, StringComparison.Ordinal);
        Assert.Contains("(p < 0.001, significant) |".Replace("<", "&lt;", StringComparison.Ordinal), md, StringComparison.Ordinal);   // base vs the best arm
    }

    [Fact]
    public void Results_json_round_trips()
    {
        using var dir = new TempDir();
        var results = ExperimentAnalyzer.Analyze(FullRun(), Options);
        var paths = ExperimentReport.WriteAll(results, dir.Path);
        var back = ExperimentReport.ReadResults(paths[0]);
        Assert.Equal(ExperimentReport.ToJson(results), ExperimentReport.ToJson(back));
        Assert.Equal(results.Run.TestQuestions[3].Text, back.Run.TestQuestions[3].Text);
        Assert.Equal(results.Recommendation.Summary, back.Recommendation.Summary);
        Assert.Equal(results.Arm(ArmNames.Rag)!.Primary, back.Arm(ArmNames.Rag)!.Primary);
        Assert.Equal(2400, back.Run.Freshness!.UpdateCostSeconds[ArmNames.FineTuned]);
        var json = File.ReadAllText(paths[0]);
        Assert.StartsWith("{\n  \"format\": \"ragtune-experiment-results\",\n  \"version\": 1,", json, StringComparison.Ordinal);
        Assert.Contains("Café in Zürich — nördlich", json, StringComparison.Ordinal);   // readable for auditing
        // JSON for people: printable characters as they are, no \u002B or \u003C escapes (HTML escaping is the HTML report's job).
        Assert.Contains("\"ft+rag\"", json, StringComparison.Ordinal);
        Assert.Contains(Hostile.Replace("\"", "\\\"", StringComparison.Ordinal), json, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u00", json, StringComparison.Ordinal);
        Assert.Equal(Hostile, back.Run.TestQuestions.Single(q => q.Text == Hostile).Text);
        Assert.Equal("Wo liegt das Café in Zürich — nördlich?", back.Run.TestQuestions[5].Text);
    }

    [Fact]
    public void Output_is_deterministic()
    {
        var a = ExperimentAnalyzer.Analyze(FullRun(), Options);
        var b = ExperimentAnalyzer.Analyze(FullRun(), Options);
        Assert.Equal(ExperimentReport.ToJson(a), ExperimentReport.ToJson(b));
        Assert.Equal(HtmlReport.Render(a), HtmlReport.Render(b));
        Assert.Equal(MarkdownReport.Render(a), MarkdownReport.Render(b));
    }

    [Fact]
    public void Reading_a_foreign_or_newer_file_fails_clearly()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("a.json"), """{"format": "something-else", "version": 1, "results": {}}""");
        var e = Assert.Throws<InvalidDataException>(() => ExperimentReport.ReadResults(dir.File("a.json")));
        Assert.Contains("'format' is 'something-else'", e.Message);
        File.WriteAllText(dir.File("b.json"), """{"format": "ragtune-experiment-results", "version": 9, "results": {}}""");
        e = Assert.Throws<InvalidDataException>(() => ExperimentReport.ReadResults(dir.File("b.json")));
        Assert.Contains("newer RagTune", e.Message);
        File.WriteAllText(dir.File("c.json"), "{ not json");
        e = Assert.Throws<InvalidDataException>(() => ExperimentReport.ReadResults(dir.File("c.json")));
        Assert.Contains("not valid JSON", e.Message);
        Assert.Throws<FileNotFoundException>(() => ExperimentReport.ReadResults(dir.File("missing.json")));
    }
}
