using System.Runtime.Intrinsics;

namespace RagTune.Engine.Kernels;

// Dimension legend
//   H   heads in the vector (query heads or key/value heads)
//   hd  head dimension (even)
//   i   rotation pair index, 0 <= i < hd/2

/// <summary>How the rotary embedding pairs up the elements of a head (llama.cpp's rope types).</summary>
public enum RopeMode
{
    /// <summary>LLAMA_ROPE_TYPE_NORM (Llama, SmolLM in GGUF): rotates adjacent pairs (x[2i], x[2i+1]).</summary>
    Normal,

    /// <summary>LLAMA_ROPE_TYPE_NEOX (GPT-NeoX, Qwen, HF "rotate_half"): rotates (x[i], x[i + hd/2]).</summary>
    NeoX,
}

/// <summary>Rotary position embedding (Su et al. 2021, RoFormer).</summary>
internal static unsafe partial class Rope
{
    /// <summary>
    /// invFreq[i] = theta^(-2i/hd), the rotation speed of pair i (HF's <c>inv_freq</c>), computed in double
    /// and rounded once. Scaled variants (Llama-3 rope scaling) just rewrite this table.
    /// </summary>
    public static void InverseFrequencies(Span<float> invFreq /*[hd/2]*/, int headDim, float theta)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "RoPE needs an even head dimension.");
        if (invFreq.Length < headDim / 2) throw new ArgumentException($"invFreq holds {invFreq.Length} floats, needs headDim/2 = {headDim / 2}.", nameof(invFreq));
        for (int i = 0; i < headDim / 2; i++)
            invFreq[i] = (float)(1.0 / Math.Pow(theta, 2.0 * i / headDim));
    }

    /// <summary>
    /// Rotates every head of <paramref name="x"/> in place for position <paramref name="pos"/>: pair i turns by
    /// angle pos * invFreq[i] (the angle is formed in float, as ggml_rope_cache_init does).
    /// </summary>
    public static void Apply(Span<float> x /*[H, hd]*/, int nHeads, int headDim, int pos, ReadOnlySpan<float> invFreq /*[hd/2]*/, RopeMode mode)
    {
        Check(x.Length, nHeads, headDim, invFreq.Length);
        int half = headDim / 2;
        // Expanded tables laid out like one head, so rotating a head is two multiplies and an add per element:
        //   out = x * c + partner(x) * s, with s carrying the sign of the -sin term. They live on the stack (no
        // allocation per token); head dims above 512, which no Llama-family model uses, fall back to the heap.
        Span<float> c = headDim <= 512 ? stackalloc float[headDim] : new float[headDim];
        Span<float> s = headDim <= 512 ? stackalloc float[headDim] : new float[headDim];
        for (int i = 0; i < half; i++)
        {
            float angle = pos * invFreq[i];
            float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
            if (mode == RopeMode.Normal)
            {
                c[2 * i] = cos; c[2 * i + 1] = cos;
                s[2 * i] = -sin; s[2 * i + 1] = sin;
            }
            else
            {
                c[i] = cos; c[i + half] = cos;
                s[i] = -sin; s[i + half] = sin;
            }
        }

        fixed (float* px = x)
        fixed (float* pc = c)
        fixed (float* ps = s)
        {
            for (int h = 0; h < nHeads; h++)
            {
                float* head = px + h * headDim;
                if (mode == RopeMode.Normal) RotateAdjacent(head, pc, ps, headDim);
                else RotateHalves(head, pc, ps, half);
            }
        }
    }

    /// <summary>Scalar reference of <see cref="Apply"/>, written straight from the rotation formula.</summary>
    public static void ApplyReference(Span<float> x /*[H, hd]*/, int nHeads, int headDim, int pos, ReadOnlySpan<float> invFreq /*[hd/2]*/, RopeMode mode)
    {
        Check(x.Length, nHeads, headDim, invFreq.Length);
        int half = headDim / 2;
        for (int h = 0; h < nHeads; h++)
        {
            var head = x.Slice(h * headDim, headDim);
            for (int i = 0; i < half; i++)
            {
                float angle = pos * invFreq[i];
                float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                int a = mode == RopeMode.Normal ? 2 * i : i;
                int b = mode == RopeMode.Normal ? 2 * i + 1 : i + half;
                float x0 = head[a], x1 = head[b];
                head[a] = x0 * cos - x1 * sin;
                head[b] = x0 * sin + x1 * cos;
            }
        }
    }

    // Normal mode: the partner of x[2i] is x[2i+1] and vice versa, i.e. swap adjacent lanes.
    private static void RotateAdjacent(float* x, float* c, float* s, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var swap = Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
            for (; j + 16 <= n; j += 16)
            {
                var v = Vector512.Load(x + j);
                (v * Vector512.Load(c + j) + Vector512.Shuffle(v, swap) * Vector512.Load(s + j)).Store(x + j);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var swap = Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6);
            for (; j + 8 <= n; j += 8)
            {
                var v = Vector256.Load(x + j);
                (v * Vector256.Load(c + j) + Vector256.Shuffle(v, swap) * Vector256.Load(s + j)).Store(x + j);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            var swap = Vector128.Create(1, 0, 3, 2);
            for (; j + 4 <= n; j += 4)
            {
                var v = Vector128.Load(x + j);
                (v * Vector128.Load(c + j) + Vector128.Shuffle(v, swap) * Vector128.Load(s + j)).Store(x + j);
            }
        }
        for (; j < n; j += 2)
        {
            float x0 = x[j], x1 = x[j + 1];
            x[j] = x0 * c[j] + x1 * s[j];
            x[j + 1] = x1 * c[j + 1] + x0 * s[j + 1];
        }
    }

    // NeoX mode: the partner of x[i] is x[i + half]; both halves are read before either is written.
    private static void RotateHalves(float* x, float* c, float* s, int half)
    {
        float* lo = x, hi = x + half;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 16 <= half; j += 16)
            {
                var a = Vector512.Load(lo + j);
                var b = Vector512.Load(hi + j);
                (a * Vector512.Load(c + j) + b * Vector512.Load(s + j)).Store(lo + j);
                (b * Vector512.Load(c + half + j) + a * Vector512.Load(s + half + j)).Store(hi + j);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= half; j += 8)
            {
                var a = Vector256.Load(lo + j);
                var b = Vector256.Load(hi + j);
                (a * Vector256.Load(c + j) + b * Vector256.Load(s + j)).Store(lo + j);
                (b * Vector256.Load(c + half + j) + a * Vector256.Load(s + half + j)).Store(hi + j);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            for (; j + 4 <= half; j += 4)
            {
                var a = Vector128.Load(lo + j);
                var b = Vector128.Load(hi + j);
                (a * Vector128.Load(c + j) + b * Vector128.Load(s + j)).Store(lo + j);
                (b * Vector128.Load(c + half + j) + a * Vector128.Load(s + half + j)).Store(hi + j);
            }
        }
        for (; j < half; j++)
        {
            float a = lo[j], b = hi[j];
            lo[j] = a * c[j] + b * s[j];
            hi[j] = b * c[half + j] + a * s[half + j];
        }
    }

    private static void Check(int length, int nHeads, int headDim, int invFreqLength)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "RoPE needs an even head dimension.");
        if (length < (long)nHeads * headDim) throw new ArgumentException($"RoPE input holds {length} floats, needs nHeads*headDim = {nHeads * headDim}.", "x");
        if (invFreqLength < headDim / 2) throw new ArgumentException($"invFreq holds {invFreqLength} floats, needs headDim/2 = {headDim / 2}.", "invFreq");
    }
}
