using System.Globalization;
using RagTune.Evaluation.Experiments;

namespace RagTune.Evaluation.Tests.Experiments;

/// <summary>
/// Hand-built experiment runs with known answers. Question i asks for "answer{i}"; an arm answers it right or
/// wrong as the test says, so every figure the analysis produces can be computed by hand.
/// </summary>
internal static class RunBuilder
{
    public static string Id(int i) => "q" + i.ToString(CultureInfo.InvariantCulture);
    public static string Gold(int i) => "answer" + i.ToString(CultureInfo.InvariantCulture);
    public static string Doc(int i) => "doc" + i.ToString(CultureInfo.InvariantCulture);

    public static ExperimentQuestion Question(int i, bool paraphrase = false, bool answerable = true) =>
        new(Id(i), "fact" + i.ToString(CultureInfo.InvariantCulture), $"What is the code of item {i}?", answerable ? [Gold(i)] : [],
            paraphrase, answerable, answerable ? Doc(i) : null, answerable ? $"The code of item {i} is {Gold(i)}." : null);

    public static List<ExperimentQuestion> Questions(int n, int paraphrasedFrom = int.MaxValue) =>
        Enumerable.Range(0, n).Select(i => Question(i, paraphrase: i >= paraphrasedFrom)).ToList();

    /// <summary>A closed-book answer: the gold answer when <paramref name="right"/>, otherwise a wrong one.</summary>
    public static RawAnswer ClosedBook(int i, bool right, double promptMs = 10, double generationMs = 20) =>
        new(Id(i), right ? Gold(i) : "wrong", false, [], [], 0, promptMs, generationMs, 40, 3);

    /// <summary>A retrieval answer citing passage [1], which holds the gold fact; wrong answers cite it too.</summary>
    public static RawAnswer Retrieval(int i, bool right, double retrievalMs = 5, double promptMs = 60, double generationMs = 20) =>
        new(Id(i), right ? $"{Gold(i)} [1]." : "wrong [1].", false, [Doc(i), "other"],
            [new ShownPassage(1, Doc(i), i, $"The code of item {i} is {Gold(i)}.")], retrievalMs, promptMs, generationMs, 400, 12);

    /// <summary>An arm answering questions 0..n-1, right where <paramref name="right"/> says; retrieval arms take <paramref name="retrievalPromptMs"/> for the prompt.</summary>
    public static ArmRun Arm(string name, int n, Func<int, bool> right, TrainingRun? training = null, double retrievalPromptMs = 60)
    {
        bool retrieves = ArmNames.Retrieves(name);
        return new ArmRun(name, Enumerable.Range(0, n).Select(i => retrieves ? Retrieval(i, right(i), promptMs: retrievalPromptMs) : ClosedBook(i, right(i))).ToList(), training);
    }

    public static TrainingRun Training(int examples = 100, double wallSeconds = 2400) =>
        new(examples, false, wallSeconds, 50_000, 512L << 20, 200, 150, 0.8f, false,
            [new LossSample(0, 3.0f, 3.1f), new LossSample(100, 1.5f, 1.7f), new LossSample(200, 0.9f, 1.2f)], "adapters/ft");

    public static ExperimentRun Run(IReadOnlyList<ArmRun> arms, IReadOnlyList<ExperimentQuestion> test, ExperimentConstraints? constraints = null,
        FreshnessRun? freshness = null, DataEfficiencyRun? dataEfficiency = null, IReadOnlyList<ForgettingRun>? forgetting = null) =>
        new("test run", "tiny.gguf", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), constraints ?? new ExperimentConstraints(),
            [], test, arms, freshness, dataEfficiency, forgetting ?? [], RecallK: 1);

    /// <summary>Fast settings for tests: fewer resamples than the default, still deterministic.</summary>
    public static AnalysisOptions Options => new() { Resamples = 1000 };
}
