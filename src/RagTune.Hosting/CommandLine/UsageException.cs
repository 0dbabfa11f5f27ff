namespace RagTune.Hosting.CommandLine;

/// <summary>A command-line usage error: an argument the user can fix (<see cref="CliRun.Guard(Func{int})"/> exits with code 2).</summary>
public sealed class UsageException(string message) : Exception(message);
