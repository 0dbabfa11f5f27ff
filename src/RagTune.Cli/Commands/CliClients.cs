using Microsoft.Extensions.Logging;
using RagTune.Hosting.Middleware;

namespace RagTune.Cli.Commands;

/// <summary>
/// The Microsoft.Extensions.AI middleware of the CLI's model clients: OpenTelemetry always (free unless something
/// listens), <c>UseLogging</c> to standard error when <c>RAGTUNE_LOG_LEVEL</c> names a level (Debug shows each model
/// call, Trace its messages too), and a response cache for <c>compare --cache-dir</c>.
/// </summary>
internal static class CliClients
{
    public const string LogLevelVariable = "RAGTUNE_LOG_LEVEL";

    private static readonly Lazy<ILoggerFactory?> s_loggers = new(CreateLoggers);

    public static ClientMiddlewareOptions Options(string? cacheDirectory = null) =>
        new() { Loggers = s_loggers.Value, CacheDirectory = cacheDirectory };

    private static ILoggerFactory? CreateLoggers()
    {
        var text = Environment.GetEnvironmentVariable(LogLevelVariable);
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (!Enum.TryParse<LogLevel>(text, ignoreCase: true, out var level) || !Enum.IsDefined(level))
            throw new UsageException($"{LogLevelVariable}='{text}' is not a log level; use Trace, Debug, Information, Warning, Error, Critical or None.");
        // Standard error for every level: standard output carries the command's own answer.
        return LoggerFactory.Create(b => b.SetMinimumLevel(level)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(c => c.SingleLine = true));
    }
}
