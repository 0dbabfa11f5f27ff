using System.Runtime.CompilerServices;

namespace RagTune.Engine.Training;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014): a tiny seeded generator whose stream is fixed by this code, not by the
/// runtime, so adapters initialised from a seed are identical on every machine and .NET version. <see cref="Hash"/> is
/// the counter-based form used for dropout masks, which lets a recomputed forward pass redraw the same mask.
/// </summary>
internal struct TrainingRandom(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform in [0, 1) with 24 bits of resolution.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform in [-bound, bound).</summary>
    public float NextSymmetric(float bound) => (2f * NextFloat() - 1f) * bound;

    /// <summary>A uniform [0, 1) value that depends only on (key, index).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Hash(ulong key, long index) => (Mix(key + (ulong)index * 0x9E3779B97F4A7C15UL) >> 40) * (1f / (1 << 24));

    /// <summary>Combines a few integers into one key.</summary>
    public static ulong Key(ulong seed, long a, long b, long c) =>
        Mix(Mix(Mix(seed ^ 0xD1B54A32D192ED03UL) + (ulong)a) + ((ulong)b << 32 ^ (ulong)c));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
