namespace RagTune.FineTuning.Adapters;

/// <summary>An adapter folder or file that cannot be used with this base model; the message says which file and why.</summary>
internal sealed class AdapterFormatException(string message) : IOException(message);
