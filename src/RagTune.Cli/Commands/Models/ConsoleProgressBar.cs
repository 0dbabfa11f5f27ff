using RagTune.Models.Downloads;

namespace RagTune.Cli.Commands.Models;

/// <summary>
/// Download progress on stderr: a redrawn bar (bytes, rate, ETA) on a terminal; on a pipe or file, one plain line
/// when each file starts and ends and at most one every 10 %.
/// </summary>
internal sealed class ConsoleProgressBar(TextWriter output, bool interactive) : IProgress<DownloadProgress>
{
    private readonly Lock _gate = new();
    private string? _file;
    private int _lastDecile = -1;
    private bool _barShown;

    public void Report(DownloadProgress p)
    {
        lock (_gate)
        {
            if (p.File != _file)
            {
                EndLine();
                _file = p.File;
                _lastDecile = -1;
                if (!interactive) output.WriteLine($"downloading {p.File}{(p.TotalBytes is { } t ? $" ({ModelCacheCommands.Size(t)})" : "")}");
            }
            var done = ModelCacheCommands.Size(p.BytesDone);
            var total = p.TotalBytes is { } n ? ModelCacheCommands.Size(n) : "?";
            var rate = ModelCacheCommands.Size((long)p.BytesPerSecond) + "/s";
            var eta = p.Eta is { } e ? (e.TotalHours >= 1 ? e.ToString(@"h\:mm\:ss") : e.ToString(@"m\:ss")) : "--:--";
            double fraction = p.TotalBytes is > 0 ? Math.Min(1, p.BytesDone / (double)p.TotalBytes.Value) : 0;
            if (interactive)
            {
                const int width = 30;
                int filled = (int)(fraction * width);
                output.Write($"\r{p.File} [{new string('#', filled)}{new string('.', width - filled)}] {fraction * 100,5:F1}% {done} / {total} {rate} ETA {eta}   ");
                _barShown = true;
                if (p.Completed) EndLine();
            }
            else
            {
                int decile = (int)(fraction * 10);
                if (p.Completed) output.WriteLine($"  {p.File}: {done} done, {rate}");
                else if (decile > _lastDecile)
                {
                    _lastDecile = decile;
                    output.WriteLine($"  {p.File}: {fraction * 100:F0}% {done} / {total} {rate} ETA {eta}");
                }
            }
            output.Flush();
        }
    }

    public void Finish()
    {
        lock (_gate) EndLine();
    }

    private void EndLine()
    {
        if (_barShown) output.WriteLine();
        _barShown = false;
    }
}
