namespace RagTune.Models.Local;

/// <summary>
/// A prompt does not fit the local model's context window. Public so that every front end (the server's
/// <c>context_length_exceeded</c> 400, the CLI, MCP) recognises it by type, without knowing the engine.
/// </summary>
public sealed class ContextLengthExceededException : InvalidOperationException
{
    /// <summary>Creates the exception for a prompt of <paramref name="promptTokens"/> tokens and a context of <paramref name="contextTokens"/>.</summary>
    public ContextLengthExceededException(int promptTokens, int contextTokens)
        : base($"The prompt is {promptTokens} tokens but the context holds {contextTokens}. Shorten the prompt or raise the context size.")
    {
        PromptTokens = promptTokens;
        ContextTokens = contextTokens;
    }

    /// <summary>Tokens in the prompt that was refused.</summary>
    public int PromptTokens { get; }

    /// <summary>Tokens the context window holds (the prompt must leave room for at least one generated token).</summary>
    public int ContextTokens { get; }
}
