namespace RagTune.Engine.Sampling;

/// <summary>
/// How the next token is chosen. Defaults match llama.cpp's common sampling defaults, except that
/// temperature 0 means greedy (argmax) decoding.
/// </summary>
/// <param name="Temperature">0 = greedy; otherwise logits are divided by it before softmax.</param>
/// <param name="TopK">Keep the K most likely tokens; 0 = off.</param>
/// <param name="TopP">Keep the smallest set whose probability reaches P (nucleus); 1 = off.</param>
/// <param name="MinP">Drop tokens below MinP times the top probability; 0 = off.</param>
/// <param name="RepeatPenalty">Penalise tokens seen in the last <paramref name="RepeatLastN"/> (1 = off), as in CTRL / llama.cpp.</param>
/// <param name="RepeatLastN">How many recent tokens the repetition penalty looks at.</param>
/// <param name="Seed">Seed of the sampling RNG; the same seed and inputs give the same tokens.</param>
public sealed record SamplerOptions(
    float Temperature = 0.8f,
    int TopK = 40,
    float TopP = 0.95f,
    float MinP = 0.05f,
    float RepeatPenalty = 1.0f,
    int RepeatLastN = 64,
    ulong Seed = 0)
{
    /// <summary>Greedy decoding: always the most likely token.</summary>
    public static SamplerOptions Greedy { get; } = new(Temperature: 0, TopK: 0, TopP: 1, MinP: 0);

    /// <summary>Throws with the offending field named when a value is out of range.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be 0 (greedy) or a positive number.");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top-k must be 0 (off) or positive.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1]; 1 turns it off.");
        if (!(MinP >= 0 && MinP < 1)) throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "min-p must be in [0, 1); 0 turns it off.");
        if (!(RepeatPenalty > 0) || float.IsInfinity(RepeatPenalty)) throw new ArgumentOutOfRangeException(nameof(RepeatPenalty), RepeatPenalty, "Repeat penalty must be positive; 1 turns it off.");
        if (RepeatLastN < 0) throw new ArgumentOutOfRangeException(nameof(RepeatLastN), RepeatLastN, "Repeat window must be 0 or positive.");
    }
}
