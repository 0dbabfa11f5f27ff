using RagTune.Cli.Commands.Rag;
using RagTune.Evaluation.Experiments;
using Spectre.Console;

namespace RagTune.Cli.Commands.Compare;

/// <summary>
/// The progress display of a comparison: one Spectre bar per stage (ingest, each arm's answers and training, the
/// experiments) on a terminal; on a pipe, a line when a stage starts and ends and at most one every few seconds between.
/// </summary>
internal static class CompareProgress
{
    public static async Task<T> RunAsync<T>(bool quiet, Func<IProgress<ExperimentProgress>?, Task<T>> body)
    {
        if (quiet) return await body(null);
        if (!RagConsole.Interactive) return await body(new PlainProgress());
        T result = default!;
        await RagConsole.Out.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx => result = await body(new BarProgress(ctx)));
        return result;
    }

    private static string Line(ExperimentProgress p) =>
        $"{p.Stage,-28} {p.Done}/{p.Total}" + (p.Detail is { Length: > 0 } d ? $"  {(d.Length > 60 ? d[..57] + "..." : d)}" : "");

    private sealed class BarProgress(ProgressContext ctx) : IProgress<ExperimentProgress>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = new(StringComparer.Ordinal);

        public void Report(ExperimentProgress p)
        {
            lock (_tasks)
            {
                if (!_tasks.TryGetValue(p.Stage, out var task)) _tasks[p.Stage] = task = ctx.AddTask(Markup.Escape(p.Stage), maxValue: Math.Max(1, p.Total));
                task.MaxValue = Math.Max(1, p.Total);
                task.Value = p.Done;
                task.Description = Markup.Escape(Line(p));
                if (p.Done >= p.Total) task.StopTask();
            }
        }
    }

    private sealed class PlainProgress : IProgress<ExperimentProgress>
    {
        private readonly Dictionary<string, DateTime> _last = new(StringComparer.Ordinal);

        public void Report(ExperimentProgress p)
        {
            lock (_last)
            {
                var now = DateTime.UtcNow;
                bool first = !_last.TryGetValue(p.Stage, out var last);
                bool end = p.Done >= p.Total;
                if (!first && !end && now - last < TimeSpan.FromSeconds(5)) return;
                _last[p.Stage] = now;
                Console.Error.WriteLine(Line(p));
            }
        }
    }
}
