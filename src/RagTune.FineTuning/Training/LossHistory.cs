using System.Globalization;
using System.Text;
using System.Text.Json;

namespace RagTune.FineTuning.Training;

/// <summary>One optimizer step: its mean training loss, the validation loss when it was evaluated, lr and speed.</summary>
internal sealed record LossPoint(int Step, int Epoch, float TrainLoss, float? ValLoss, float LearningRate, double TokensPerSecond, bool Overfitting = false);

/// <summary>
/// The loss curve of a run, written as <c>loss.csv</c>, <c>loss.json</c> and <c>loss.svg</c> (a hand-written plot of
/// training and validation loss against the step, best step marked).
/// </summary>
internal sealed class LossHistory
{
    public const string FormatName = "ragtune-loss-history";
    public const int FormatVersion = 1;

    public List<LossPoint> Points { get; } = [];

    /// <summary>The evaluated points, in step order.</summary>
    public IEnumerable<LossPoint> Evaluations => Points.Where(p => p.ValLoss.HasValue);

    /// <summary>
    /// The overfitting rule: at an evaluation, validation loss rose at each of the last two evaluations while the mean
    /// training loss over the steps between them fell both times. Two in a row, so one noisy evaluation does not trip it.
    /// </summary>
    public bool IsOverfitting(float trainMeanNow, float valNow)
    {
        var evals = Evaluations.TakeLast(2).ToList();
        if (evals.Count < 2) return false;
        var (a, b) = (evals[0], evals[1]);
        float trainA = MeanTrain(a.Step), trainB = MeanTrain(b.Step);
        return valNow > b.ValLoss && b.ValLoss > a.ValLoss && trainMeanNow < trainB && trainB < trainA;
    }

    /// <summary>Mean training loss of the steps after the evaluation before <paramref name="evalStep"/> up to it.</summary>
    public float MeanTrain(int evalStep)
    {
        int prev = Evaluations.Where(e => e.Step < evalStep).Select(e => e.Step).DefaultIfEmpty(0).Max();
        var window = Points.Where(p => p.Step > prev && p.Step <= evalStep).Select(p => p.TrainLoss).ToList();
        return window.Count == 0 ? float.NaN : window.Average();
    }

    public void WriteAll(string folder, int? bestStep)
    {
        Directory.CreateDirectory(folder);
        WriteAtomically(Path.Combine(folder, "loss.csv"), Csv());
        WriteAtomically(Path.Combine(folder, "loss.json"), Json(bestStep));
        WriteAtomically(Path.Combine(folder, "loss.svg"), Svg(bestStep));
    }

    public string Csv()
    {
        var sb = new StringBuilder("step,epoch,train_loss,val_loss,lr,tokens_per_second,overfitting\n");
        foreach (var p in Points)
            sb.Append(CultureInfo.InvariantCulture, $"{p.Step},{p.Epoch},{p.TrainLoss:R},{(p.ValLoss is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : "")},{p.LearningRate:R},{p.TokensPerSecond:F1},{(p.Overfitting ? 1 : 0)}\n");
        return sb.ToString();
    }

    public string Json(int? bestStep) => JsonSerializer.Serialize(new
    {
        format = FormatName,
        version = FormatVersion,
        best_step = bestStep,
        points = Points.Select(p => new
        {
            step = p.Step, epoch = p.Epoch, train_loss = p.TrainLoss, val_loss = p.ValLoss, lr = p.LearningRate,
            tokens_per_second = Math.Round(p.TokensPerSecond, 1), overfitting = p.Overfitting,
        }),
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>A 640×360 SVG: training loss as a blue line, validation loss as an orange line with dots, best step dashed.</summary>
    public string Svg(int? bestStep)
    {
        const int W = 640, H = 360, L = 60, R = 20, T = 30, B = 45;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        sb.Append(inv, $"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n<text x=\"{L}\" y=\"18\" font-size=\"13\">Loss by step</text>\n");
        var values = Points.Select(p => p.TrainLoss).Concat(Evaluations.Select(e => e.ValLoss!.Value)).Where(float.IsFinite).ToList();
        if (Points.Count == 0 || values.Count == 0)
            return sb.Append("<text x=\"60\" y=\"180\">no steps yet</text>\n</svg>\n").ToString();
        double minY = values.Min(), maxY = values.Max();
        if (maxY - minY < 1e-6) { minY -= 0.5; maxY += 0.5; }
        double pad = (maxY - minY) * 0.05;
        minY -= pad; maxY += pad;
        int maxStep = Math.Max(1, Points.Max(p => p.Step));
        double X(double step) => L + (W - L - R) * step / maxStep;
        double Y(double loss) => T + (H - T - B) * (maxY - loss) / (maxY - minY);

        sb.Append(inv, $"<line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - R}\" y2=\"{H - B}\" stroke=\"black\"/>\n<line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"black\"/>\n");
        for (int i = 0; i <= 4; i++)
        {
            double loss = minY + (maxY - minY) * i / 4, y = Y(loss);
            sb.Append(inv, $"<line x1=\"{L - 4}\" y1=\"{y:F1}\" x2=\"{W - R}\" y2=\"{y:F1}\" stroke=\"#ddd\"/><text x=\"{L - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{loss:F3}</text>\n");
            int step = (int)Math.Round((double)maxStep * i / 4);
            sb.Append(inv, $"<text x=\"{X(step):F1}\" y=\"{H - B + 16}\" text-anchor=\"middle\">{step}</text>\n");
        }
        sb.Append(inv, $"<text x=\"{(L + W - R) / 2}\" y=\"{H - 8}\" text-anchor=\"middle\">step</text>\n");
        if (bestStep is { } best)
            sb.Append(inv, $"<line x1=\"{X(best):F1}\" y1=\"{T}\" x2=\"{X(best):F1}\" y2=\"{H - B}\" stroke=\"#2a2\" stroke-dasharray=\"4 3\"/><text x=\"{X(best) + 3:F1}\" y=\"{T + 10}\" fill=\"#2a2\">best {best}</text>\n");
        string Line(IEnumerable<(int Step, float Loss)> pts) => string.Join(' ', pts.Where(p => float.IsFinite(p.Loss)).Select(p => $"{X(p.Step).ToString("F1", inv)},{Y(p.Loss).ToString("F1", inv)}"));
        sb.Append(inv, $"<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{Line(Points.Select(p => (p.Step, p.TrainLoss)))}\"/>\n");
        var evals = Evaluations.Select(e => (e.Step, e.ValLoss!.Value)).ToList();
        if (evals.Count > 0)
        {
            sb.Append(inv, $"<polyline fill=\"none\" stroke=\"#ff7f0e\" stroke-width=\"1.5\" points=\"{Line(evals)}\"/>\n");
            foreach (var (s, v) in evals)
                sb.Append(inv, $"<circle cx=\"{X(s):F1}\" cy=\"{Y(v):F1}\" r=\"2.5\" fill=\"#ff7f0e\"/>\n");
        }
        sb.Append(inv, $"<rect x=\"{W - R - 130}\" y=\"{T}\" width=\"125\" height=\"36\" fill=\"white\" stroke=\"#999\"/>\n");
        sb.Append(inv, $"<line x1=\"{W - R - 124}\" y1=\"{T + 12}\" x2=\"{W - R - 104}\" y2=\"{T + 12}\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"{W - R - 98}\" y=\"{T + 16}\">train loss</text>\n");
        sb.Append(inv, $"<line x1=\"{W - R - 124}\" y1=\"{T + 26}\" x2=\"{W - R - 104}\" y2=\"{T + 26}\" stroke=\"#ff7f0e\" stroke-width=\"2\"/><text x=\"{W - R - 98}\" y=\"{T + 30}\">validation loss</text>\n");
        return sb.Append("</svg>\n").ToString();
    }

    /// <summary>Writes to a temporary file and moves it into place, so a kill never leaves half a file.</summary>
    public static void WriteAtomically(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Restores points saved by <see cref="Json"/> (for resuming).</summary>
    public static LossHistory FromJson(JsonElement root)
    {
        var h = new LossHistory();
        foreach (var p in root.GetProperty("points").EnumerateArray())
            h.Points.Add(new LossPoint(p.GetProperty("step").GetInt32(), p.GetProperty("epoch").GetInt32(), p.GetProperty("train_loss").GetSingle(),
                p.GetProperty("val_loss").ValueKind == JsonValueKind.Null ? null : p.GetProperty("val_loss").GetSingle(),
                p.GetProperty("lr").GetSingle(), p.GetProperty("tokens_per_second").GetDouble(), p.GetProperty("overfitting").GetBoolean()));
        return h;
    }
}
