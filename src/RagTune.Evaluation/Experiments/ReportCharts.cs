using static RagTune.Evaluation.Experiments.ReportFormat;

namespace RagTune.Evaluation.Experiments;

/// <summary>The report's charts as inline SVG; each returns null when its experiment was not run.</summary>
internal static class ReportCharts
{
    private const string Before = "#9e9e9e", After = "#1f77b4";

    /// <summary>Primary metric per arm, bars with bootstrap-interval whiskers.</summary>
    public static string? Accuracy(ExperimentResults r)
    {
        var arms = r.Arms.Where(a => a.Primary is not null).ToList();
        if (arms.Count == 0) return null;
        string m = r.PrimaryMetricName;
        var svg = new SvgCanvas("chart-accuracy", $"{m} per arm with {Plain(r.Options.Confidence * 100)}% intervals",
            string.Join("; ", arms.Select(a => $"{a.Arm}: {Est(a.Primary)}")));
        svg.Scale(0, arms.Count, 0, 1);
        svg.Axes("arm", m, [0, 0.25, 0.5, 0.75, 1], v => Num(v));
        double slot = (svg.PlotRight - svg.PlotLeft) / arms.Count;
        for (int i = 0; i < arms.Count; i++)
        {
            var e = arms[i].Primary!;
            double cx = svg.PlotLeft + slot * (i + 0.5), w = slot * 0.5;
            svg.Rect(cx - w / 2, svg.Y(e.Mean), w, svg.Y(0) - svg.Y(e.Mean), SvgCanvas.Palette[i % SvgCanvas.Palette.Length], $"{arms[i].Arm}: {Est(e)}");
            svg.Line(cx, svg.Y(e.High), cx, svg.Y(e.Low), "#000000", width: 1.5);
            svg.Line(cx - 6, svg.Y(e.High), cx + 6, svg.Y(e.High), "#000000", width: 1.5);
            svg.Line(cx - 6, svg.Y(e.Low), cx + 6, svg.Y(e.Low), "#000000", width: 1.5);
            svg.Text(cx, svg.Y(e.High) - 4, Num(e.Mean), "middle", 11);
            svg.XTick(cx, arms[i].Arm, pixels: true);
        }
        return svg.Finish();
    }

    /// <summary>Mean latency per arm as stacked bars: retrieval, prompt processing, generation.</summary>
    public static string? Latency(ExperimentResults r)
    {
        var arms = r.Arms.Where(a => a.Latency is not null).ToList();
        if (arms.Count == 0) return null;
        var svg = new SvgCanvas("chart-latency", "Mean latency per answer by stage",
            string.Join("; ", arms.Select(a => $"{a.Arm}: retrieval {Ms(a.Latency!.Retrieval.Mean)}, prompt {Ms(a.Latency.Prompt.Mean)}, generation {Ms(a.Latency.Generation.Mean)}")));
        double max = arms.Max(a => a.Latency!.Retrieval.Mean + a.Latency.Prompt.Mean + a.Latency.Generation.Mean);
        var ticks = SvgCanvas.Ticks(max);
        svg.Scale(0, arms.Count, 0, ticks[^1]);
        svg.Axes("arm", "milliseconds", ticks, v => Plain(v));
        string[] colors = ["#ff7f0e", "#9467bd", "#2ca02c"];
        string[] names = ["retrieval", "prompt processing", "generation"];
        double slot = (svg.PlotRight - svg.PlotLeft) / arms.Count;
        for (int i = 0; i < arms.Count; i++)
        {
            var l = arms[i].Latency!;
            double[] parts = [l.Retrieval.Mean, l.Prompt.Mean, l.Generation.Mean];
            double cx = svg.PlotLeft + slot * (i + 0.5), w = slot * 0.5, acc = 0;
            for (int k = 0; k < 3; k++)
            {
                svg.Rect(cx - w / 2, svg.Y(acc + parts[k]), w, svg.Y(acc) - svg.Y(acc + parts[k]), colors[k], $"{arms[i].Arm} {names[k]}: {Ms(parts[k])}");
                acc += parts[k];
            }
            svg.XTick(cx, arms[i].Arm, pixels: true);
        }
        for (int k = 0; k < 3; k++) svg.Legend(names[k], colors[k]);
        return svg.Finish();
    }

    /// <summary>Primary metric on the changed facts before and after the change, per arm.</summary>
    public static string? Freshness(ExperimentResults r)
    {
        if (r.Freshness is not { Arms.Count: > 0 } f) return null;
        var svg = new SvgCanvas("chart-freshness", $"{r.PrimaryMetricName} on changed facts before and after the change",
            string.Join("; ", f.Arms.Select(a => $"{a.Arm}: before {Num(a.Before?.Mean)}, after {Num(a.After?.Mean)}")));
        svg.Scale(0, f.Arms.Count, 0, 1);
        svg.Axes("arm", r.PrimaryMetricName, [0, 0.25, 0.5, 0.75, 1], v => Num(v));
        double slot = (svg.PlotRight - svg.PlotLeft) / f.Arms.Count;
        for (int i = 0; i < f.Arms.Count; i++)
        {
            double cx = svg.PlotLeft + slot * (i + 0.5), w = slot * 0.3;
            var a = f.Arms[i];
            if (a.Before is { } b)
            {
                svg.Rect(cx - w, svg.Y(b.Mean), w, svg.Y(0) - svg.Y(b.Mean), Before, $"{a.Arm} before: {Est(b)}");
                svg.Text(cx - w / 2, svg.Y(b.Mean) - 4, Num(b.Mean), "middle", 11);
            }
            if (a.After is { } af)
            {
                svg.Rect(cx, svg.Y(af.Mean), w, svg.Y(0) - svg.Y(af.Mean), After, $"{a.Arm} after: {Est(af)}");
                svg.Text(cx + w / 2, svg.Y(af.Mean) - 4, Num(af.Mean), "middle", 11);
            }
            svg.XTick(cx, a.Arm, pixels: true);
        }
        svg.Legend("before", Before);
        svg.Legend("after", After);
        return svg.Finish();
    }

    /// <summary>The fine-tuned arm's primary metric against training examples (log axis), per series, with the RAG target.</summary>
    public static string? LearningCurve(ExperimentResults r)
    {
        if (r.LearningCurve is not { } lc) return null;
        var pts = lc.Points.Where(p => p.Examples > 0 && p.Accuracy is not null).ToList();
        if (pts.Count == 0) return null;
        var svg = new SvgCanvas("chart-learning-curve", $"Learning curve: fine-tuned {r.PrimaryMetricName} against training examples (dashed: log fit)",
            string.Join("; ", pts.Select(p => $"{Count(p.Examples)} examples{(p.WithParaphrases ? " with paraphrases" : "")}: {Num(p.Accuracy!.Mean)}"))
            + (lc.Target is { } t0 ? $"; {lc.TargetArm}: {Num(t0)}" : ""));
        double lo = pts.Min(p => p.Examples), hi = pts.Max(p => p.Examples);
        // Widen the axis to show where an extrapolated fit reaches the target.
        foreach (var fit in lc.Fits)
            if (fit is { Verdict: ReachVerdict.Extrapolated, ExamplesToTarget: { } need }) hi = Math.Max(hi, need);
        double xMin = Math.Max(1, lo / 1.5), xMax = hi * 1.5;
        svg.Scale(xMin, xMax, 0, 1, logX: true);
        svg.Axes("training examples (log scale)", r.PrimaryMetricName, [0, 0.25, 0.5, 0.75, 1], v => Num(v));
        foreach (var n in pts.Select(p => p.Examples).Distinct().Order()) svg.XTick(n, Count(n));
        int s = 0;
        foreach (var group in pts.GroupBy(p => p.WithParaphrases).OrderBy(g => g.Key))
        {
            var color = SvgCanvas.Palette[s++ % SvgCanvas.Palette.Length];
            svg.Series(group.OrderBy(p => p.Examples).Select(p => ((double)p.Examples, p.Accuracy!.Mean)).ToList(), color);
            svg.Legend(group.Key ? "with paraphrases" : "without paraphrases", color);
            if (lc.Fits.FirstOrDefault(f => f.WithParaphrases == group.Key) is { Intercept: { } a, Slope: { } b })
            {
                double Clamp(double x) => Math.Clamp(a + b * Math.Log(x), 0, 1);
                svg.Series([(xMin, Clamp(xMin)), (xMax, Clamp(xMax))], color, dashed: true, dots: false);
            }
        }
        if (lc.Target is { } t)
        {
            svg.Line(svg.PlotLeft, svg.Y(t), svg.PlotRight, svg.Y(t), "#000000", dashed: true, width: 1.5);
            svg.Legend($"{lc.TargetArm} ({Num(t)})", "#000000", dashed: true);
        }
        return svg.Finish();
    }

    /// <summary>Training and validation loss per step for every trained arm.</summary>
    public static string? Loss(ExperimentResults r)
    {
        var runs = r.Run.Arms.Where(a => a.Training is { Loss.Count: > 0 }).ToList();
        if (runs.Count == 0) return null;
        var all = runs.SelectMany(a => a.Training!.Loss).ToList();
        double maxStep = all.Max(l => l.Step), minStep = all.Min(l => l.Step);
        double maxLoss = all.Max(l => Math.Max(l.TrainLoss, l.ValLoss ?? 0));
        var ticks = SvgCanvas.Ticks(maxLoss);
        var svg = new SvgCanvas("chart-loss", "Training (solid) and validation (dashed) loss per step",
            string.Join("; ", runs.Select(a => $"{a.Arm}: train loss {Num(a.Training!.Loss[0].TrainLoss)} → {Num(a.Training.Loss[^1].TrainLoss)}"
                + (a.Training.BestValLoss is { } v ? $", best validation loss {Num(v)} at step {a.Training.BestStep}" : ""))));
        svg.Scale(minStep, maxStep, 0, ticks[^1]);
        svg.Axes("step", "loss", ticks, v => Plain(v));
        foreach (var t in SvgCanvas.Ticks(maxStep - minStep, 6)) svg.XTick(minStep + t, Count(minStep + t));
        for (int i = 0; i < runs.Count; i++)
        {
            var color = SvgCanvas.Palette[i % SvgCanvas.Palette.Length];
            var loss = runs[i].Training!.Loss.OrderBy(l => l.Step).ToList();
            svg.Series(loss.Select(l => ((double)l.Step, (double)l.TrainLoss)).ToList(), color, dots: false);
            svg.Series(loss.Where(l => l.ValLoss is not null).Select(l => ((double)l.Step, (double)l.ValLoss!.Value)).ToList(), color, dashed: true);
            svg.Legend(runs[i].Arm, color);
        }
        return svg.Finish();
    }

    /// <summary>Monthly cost of ownership per arm against updates per month; a marker at the stated rate.</summary>
    public static string? CostVersusUpdates(ExperimentResults r)
    {
        var arms = r.Arms.Where(a => a.Error is null).ToList();
        if (arms.Count == 0) return null;
        double rate = r.Run.Constraints.UpdatesPerMonth;
        double maxRate = Math.Max(8, Math.Ceiling(rate * 2));
        double maxCost = arms.Max(a => a.Cost.TotalAt(maxRate));
        var ticks = SvgCanvas.Ticks(maxCost);
        var svg = new SvgCanvas("chart-cost", "Monthly cost of ownership against knowledge updates per month",
            string.Join("; ", arms.Select(a => $"{a.Arm}: {Money(a.Cost.ServingPerMonth)} serving + {Money(a.Cost.UpdateCost)} per update")));
        svg.Scale(0, maxRate, 0, ticks[^1]);
        svg.Axes("updates per month", "cost per month", ticks, v => Money(v));
        foreach (var t in SvgCanvas.Ticks(maxRate, 8)) svg.XTick(t, Plain(t));
        svg.Line(svg.X(rate), svg.PlotTop, svg.X(rate), svg.PlotBottom, "#555555", dashed: true);
        svg.Text(svg.X(rate) + 4, svg.PlotTop + 12, $"stated: {Plain(rate)}/month", size: 11);
        for (int i = 0; i < arms.Count; i++)
        {
            var color = SvgCanvas.Palette[i % SvgCanvas.Palette.Length];
            svg.Series([(0, arms[i].Cost.TotalAt(0)), (maxRate, arms[i].Cost.TotalAt(maxRate))], color, dots: false);
            svg.Series([(rate, arms[i].Cost.TotalAt(rate))], color);
            svg.Legend(arms[i].Arm, color);
        }
        return svg.Finish();
    }
}
