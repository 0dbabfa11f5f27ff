using System.Numerics.Tensors;

namespace RagTune.Engine.Sampling;

/// <summary>
/// Chooses the next token from logits. Buffers are sized to the vocabulary once, so sampling allocates
/// nothing per token. The RNG is our own (xoshiro256**) so a seed gives the same tokens on every .NET.
/// </summary>
public sealed class Sampler
{
    private readonly SamplerOptions _options;
    private readonly float[] _work;    // [V] penalised / scaled logits, then probabilities
    private readonly int[] _index;     // [V] candidate ids
    private readonly int[] _recent;    // ring of the last RepeatLastN tokens
    private int _recentCount;
    private int _recentHead;
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>A sampler over logits of <paramref name="vocabSize"/> entries; <paramref name="options"/> are validated here.</summary>
    public Sampler(int vocabSize, SamplerOptions options)
    {
        options.Validate();
        _options = options;
        _work = new float[vocabSize];
        _index = new int[vocabSize];
        _recent = new int[Math.Max(1, options.RepeatLastN)];
        Reseed(options.Seed);
    }

    internal SamplerOptions Options => _options;

    /// <summary>Restarts the RNG stream from <paramref name="seed"/>.</summary>
    public void Reseed(ulong seed)
    {
        // splitmix64 expands the seed into xoshiro's state (the generator authors' recommendation).
        ulong z = seed;
        _s0 = SplitMix(ref z); _s1 = SplitMix(ref z); _s2 = SplitMix(ref z); _s3 = SplitMix(ref z);
    }

    /// <summary>Forgets the tokens seen so far (for the repetition penalty).</summary>
    public void ResetHistory() => _recentCount = _recentHead = 0;

    /// <summary>Records a token the repetition penalty should see (prompt tokens and generated ones).</summary>
    public void Accept(int token)
    {
        if (_options.RepeatLastN == 0) return;
        _recent[_recentHead] = token;
        _recentHead = (_recentHead + 1) % _recent.Length;
        if (_recentCount < _recent.Length) _recentCount++;
    }

    /// <summary>Picks the next token id from <paramref name="logits"/> [V].</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        int v = _work.Length;
        if (logits.Length != v) throw new ArgumentException($"Expected {v} logits, got {logits.Length}.", nameof(logits));
        var x = _work.AsSpan();
        logits.CopyTo(x);
        ApplyRepeatPenalty(x);

        if (_options.Temperature == 0 || _options.TopK == 1)
            return TensorPrimitives.IndexOfMax(x);

        // Softmax over logits / T.
        TensorPrimitives.Multiply(x, 1f / _options.Temperature, x);
        TensorPrimitives.SoftMax(x, x);

        // Candidate cut-offs that need no sort: min-p, and the nucleus lower bound (llama2.c's trick: a token
        // below (1 - p) / (V - 1) can never be inside the nucleus).
        float pmax = TensorPrimitives.Max(x);
        float cutoff = _options.MinP > 0 ? _options.MinP * pmax : 0f;
        if (_options.TopP < 1) cutoff = MathF.Max(cutoff, (1f - _options.TopP) / (v - 1));
        int n = 0;
        for (int i = 0; i < v; i++)
            if (x[i] >= cutoff) _index[n++] = i;
        if (n == 0) return TensorPrimitives.IndexOfMax(x); // a tiny top-p on a flat distribution
        var cand = _index.AsSpan(0, n);

        bool needSort = _options.TopK > 0 && _options.TopK < n || _options.TopP < 1;
        if (needSort)
        {
            SortByProbabilityDescending(cand, _work);
            if (_options.TopK > 0 && _options.TopK < n) cand = cand[.._options.TopK];
            if (_options.TopP < 1)
            {
                float cum = 0;
                for (int i = 0; i < cand.Length; i++)
                {
                    cum += _work[cand[i]];
                    if (cum >= _options.TopP) { cand = cand[..(i + 1)]; break; }
                }
            }
        }

        float total = 0;
        foreach (var id in cand) total += _work[id];
        float r = NextFloat() * total;
        float acc = 0;
        foreach (var id in cand)
        {
            acc += _work[id];
            if (r < acc) return id;
        }
        return cand[^1]; // rounding left r just above the sum
    }

    private void ApplyRepeatPenalty(Span<float> x)
    {
        float p = _options.RepeatPenalty;
        if (p == 1f || _recentCount == 0) return;
        // Each distinct recent token is penalised once (llama.cpp's CTRL-style penalty). _index is scratch until
        // candidates are built, so it marks "not yet penalised" (-1) without allocating a set.
        var seen = _index.AsSpan();
        for (int i = 0; i < _recentCount; i++) seen[_recent[i]] = -1;
        for (int i = 0; i < _recentCount; i++)
        {
            int t = _recent[i];
            if (seen[t] != -1) continue;
            seen[t] = 0;
            x[t] = x[t] > 0 ? x[t] / p : x[t] * p;
        }
    }

    // Insertion sort for short lists, heap-free introsort otherwise (Array.Sort with a comparer allocates).
    private static void SortByProbabilityDescending(Span<int> ids, float[] p)
    {
        if (ids.Length < 2) return;
        QuickSort(ids, p, 0, ids.Length - 1);
    }

    private static void QuickSort(Span<int> a, float[] p, int lo, int hi)
    {
        while (hi - lo > 16)
        {
            float pivot = p[a[(lo + hi) >>> 1]];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (p[a[i]] > pivot) i++;
                while (p[a[j]] < pivot) j--;
                if (i <= j) { (a[i], a[j]) = (a[j], a[i]); i++; j--; }
            }
            if (j - lo < hi - i) { QuickSort(a, p, lo, j); lo = i; }
            else { QuickSort(a, p, i, hi); hi = j; }
        }
        for (int i = lo + 1; i <= hi; i++)
        {
            int key = a[i];
            float kp = p[key];
            int j = i - 1;
            while (j >= lo && p[a[j]] < kp) { a[j + 1] = a[j]; j--; }
            a[j + 1] = key;
        }
    }

    private float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    private ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    private static ulong SplitMix(ref ulong z)
    {
        ulong r = z += 0x9E3779B97F4A7C15UL;
        r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9UL;
        r = (r ^ (r >> 27)) * 0x94D049BB133111EBUL;
        return r ^ (r >> 31);
    }
}
