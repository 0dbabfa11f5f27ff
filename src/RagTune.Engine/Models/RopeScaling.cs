namespace RagTune.Engine.Models;

/// <summary>
/// Llama 3 RoPE scaling (Hugging Face <c>rope_scaling</c> with <c>rope_type: "llama3"</c>; Meta's
/// <c>apply_scaling</c> in llama3's reference model): long wavelengths are slowed by <paramref name="Factor"/>,
/// short ones kept, and the band between interpolated smoothly. Only the inverse-frequency table changes.
/// </summary>
/// <param name="Factor">How much the lowest frequencies are slowed (32 for Llama 3.2).</param>
/// <param name="LowFreqFactor">Wavelengths above <c>original / low</c> are fully scaled (1 for Llama 3.x).</param>
/// <param name="HighFreqFactor">Wavelengths below <c>original / high</c> are untouched (4 for Llama 3.x).</param>
/// <param name="OriginalContextLength">Context the base model was trained for (<c>original_max_position_embeddings</c>, 8192).</param>
public sealed record RopeScaling(float Factor, float LowFreqFactor, float HighFreqFactor, int OriginalContextLength)
{
    /// <summary>Llama 3.1 / 3.2's published values (config.json of meta-llama/Llama-3.2-1B).</summary>
    public static RopeScaling Llama3 { get; } = new(32f, 1f, 4f, 8192);

    /// <summary>Checks the numbers; <paramref name="source"/> names the file in the message.</summary>
    public void Validate(string source)
    {
        if (!(Factor >= 1 && float.IsFinite(Factor) && LowFreqFactor > 0 && HighFreqFactor > LowFreqFactor && OriginalContextLength > 0))
            throw new Formats.ModelFormatException($"{source}: invalid llama3 rope scaling (factor {Factor}, low_freq_factor {LowFreqFactor}, high_freq_factor {HighFreqFactor}, original context {OriginalContextLength}): need factor >= 1, 0 < low < high and a positive context. Fix the config.");
    }

    /// <summary>
    /// <see cref="FrequencyDivisors(ReadOnlySpan{float})"/> of the rotary table of a model with <paramref name="headDim"/>
    /// and <paramref name="theta"/> (for writers of <c>rope_freqs.weight</c>).
    /// </summary>
    public float[] FrequencyDivisors(int headDim, float theta)
    {
        var invFreq = new float[headDim / 2];
        Kernels.Rope.InverseFrequencies(invFreq, headDim, theta);
        return FrequencyDivisors(invFreq);
    }

    /// <summary>
    /// The divisor of each pair's frequency, [hd/2]: 1 for short wavelengths, <see cref="Factor"/> for long ones,
    /// interpolated between. llama.cpp stores exactly these as the <c>rope_freqs.weight</c> tensor.
    /// </summary>
    public float[] FrequencyDivisors(ReadOnlySpan<float> invFreq /*[hd/2]*/)
    {
        double lowWavelen = OriginalContextLength / (double)LowFreqFactor;
        double highWavelen = OriginalContextLength / (double)HighFreqFactor;
        var divisors = new float[invFreq.Length];
        for (int i = 0; i < invFreq.Length; i++)
        {
            double wavelen = 2 * Math.PI / invFreq[i];
            if (wavelen < highWavelen) divisors[i] = 1f;
            else if (wavelen > lowWavelen) divisors[i] = Factor;
            else
            {
                double smooth = (OriginalContextLength / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
                divisors[i] = (float)(1.0 / ((1 - smooth) / Factor + smooth));
            }
        }
        return divisors;
    }
}
