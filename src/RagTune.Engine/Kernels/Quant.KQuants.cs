using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RagTune.Engine.Kernels;

// K-quants: 256-element super-blocks (ggml's QK_K), byte-exact with ggml-common.h so files from llama.cpp load.
//
//   block_q4_K { half d; half dmin; u8 scales[12]; u8 qs[128]; }              144 bytes
//       8 sub-blocks of 32; sub-block j has a 6-bit scale sc_j and a 6-bit min m_j packed into scales[12]
//       (see ScaleMinK4); x = d*sc_j*q - dmin*m_j, q in [0, 15]. Each 64-element chunk c uses qs[32c..32c+31]:
//       low nibbles are sub-block 2c, high nibbles sub-block 2c+1.
//   block_q5_K { half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }   176 bytes
//       as Q4_K plus a fifth bit: element l of sub-block j takes bit j of qh[l] (q in [0, 31]).
//   block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }              210 bytes
//       16 sub-blocks of 16, x = d*scales[j]*(q - 32), q in [0, 63]. Each 128-element half h uses ql[64h..],
//       qh[32h..], scales[8h..]; for l in 0..31: element l = ql[l] low | qh[l] bits 0-1, l+32 = ql[l+32] low |
//       qh bits 2-3, l+64 = ql[l] high | qh bits 4-5, l+96 = ql[l+32] high | qh bits 6-7 (high bits at 4-5).
//   block_q8_K { float d; i8 qs[256]; i16 bsums[16]; }                        292 bytes (activation partner)
//       bsums[i] = sum of qs[16i..16i+15], so the Q4_K/Q5_K min term and the Q6_K -32 offset need no pass over qs.
//
// The quantizers follow the idea of ggml's search (make_qkx2_quants / make_qx_quants), simplified and unweighted:
// each sub-block tries a few grids around its range, refits step (and min) by least squares, keeps the smallest
// squared error; the sub-block steps/mins are then rounded to 6-bit (Q4_K/Q5_K) or int8 (Q6_K) codes of one fp16
// super-scale, and every value is rounded to the nearest level of its decoded scale, clamped to the level range.
// Values inside the fitted range are within half a decoded step; the fit may clip a few extremes (tested budget).

internal static unsafe partial class Quant
{
    public const int QKK = 256;
    public const int Q4_KBlockBytes = 144;
    public const int Q5_KBlockBytes = 176;
    public const int Q6_KBlockBytes = 210;
    public const int Q8_KBlockBytes = 292;

    // ---------------------------------------------------------------- 6-bit scale / min packing (Q4_K, Q5_K)

    /// <summary>
    /// Sub-block <paramref name="j"/>'s 6-bit scale and min from the 12 packed bytes: sub-blocks 0-3 keep theirs in
    /// the low 6 bits of bytes j and j+4; sub-blocks 4-7 in the nibbles of byte j+4 plus the top 2 bits of bytes
    /// j-4 (scale) and j (min). Same meaning as ggml's get_scale_min_k4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (int Scale, int Min) ScaleMinK4(byte* s, int j)
    {
        if (j < 4) return (s[j] & 63, s[j + 4] & 63);
        return ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }

    /// <summary>Inverse of <see cref="ScaleMinK4"/>: packs 8 scales and 8 mins (each 0..63) into 12 bytes.</summary>
    internal static void PackScaleMinK4(ReadOnlySpan<byte> sc, ReadOnlySpan<byte> m, Span<byte> s /*[12]*/)
    {
        s[..12].Clear();
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                s[j] = sc[j];
                s[j + 4] = m[j];
            }
            else
            {
                s[j + 4] = (byte)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
                s[j - 4] |= (byte)((sc[j] >> 4) << 6);
                s[j] |= (byte)((m[j] >> 4) << 6);
            }
        }
    }

    // ---------------------------------------------------------------- quantize

    /// <summary>Q4_K (<paramref name="bits"/> 4) or Q5_K (5) quantization of whole 256-element blocks.</summary>
    internal static void QuantizeRowQ45_K(ReadOnlySpan<float> x, Span<byte> y, int bits)
    {
        int blockBytes = bits == 4 ? Q4_KBlockBytes : Q5_KBlockBytes;
        int blocks = CheckKBlocks(x.Length, y.Length, blockBytes);
        int levels = (1 << bits) - 1;
        Span<float> scales = stackalloc float[8];  // fitted step of each sub-block
        Span<float> offs = stackalloc float[8];    // fitted -min of each sub-block (>= 0)
        Span<byte> sc = stackalloc byte[8], mq = stackalloc byte[8];
        Span<byte> q = stackalloc byte[QKK];
        for (int b = 0; b < blocks; b++)
        {
            var xb = x.Slice(b * QKK, QKK);
            var yb = y.Slice(b * blockBytes, blockBytes);
            yb.Clear();
            float maxScale = 0f, maxOff = 0f;
            for (int j = 0; j < 8; j++)
            {
                (scales[j], offs[j]) = FitScaleMin(xb.Slice(32 * j, 32), levels);
                maxScale = MathF.Max(maxScale, scales[j]);
                maxOff = MathF.Max(maxOff, offs[j]);
            }
            float d = Fp16ToFp32(Fp32ToFp16(maxScale / 63f));
            float dmin = Fp16ToFp32(Fp32ToFp16(maxOff / 63f));
            for (int j = 0; j < 8; j++)
            {
                // The codes of the fitted step and offset, rounded down or up: the pair with the smallest error after
                // requantizing wins (rounding the offset down alone can clip the bottom of a narrow sub-block).
                var xs = xb.Slice(32 * j, 32);
                int s0 = d > 0f ? (int)MathF.Floor(scales[j] / d) : 0, m0 = dmin > 0f ? (int)MathF.Floor(offs[j] / dmin) : 0;
                float best = float.MaxValue;
                for (int ds = 0; ds <= 1; ds++)
                    for (int dm = 0; dm <= 1; dm++)
                    {
                        int sv = Math.Clamp(s0 + ds, 0, 63), mv = Math.Clamp(m0 + dm, 0, 63);
                        if (sv == 0 && scales[j] > 0f) continue;   // never 0 for a non-flat sub-block
                        float e = SubBlockError(xs, d * sv, dmin * mv, levels);
                        if (e < best) { best = e; sc[j] = (byte)sv; mq[j] = (byte)mv; }
                    }
                if (best == float.MaxValue) { sc[j] = 0; mq[j] = (byte)(dmin > 0f ? Math.Clamp((int)MathF.Round(offs[j] / dmin), 0, 63) : 0); }
                float step = d * sc[j], off = dmin * mq[j];
                float inv = step > 0f ? 1f / step : 0f;
                for (int l = 0; l < 32; l++)
                {
                    int v = (int)MathF.Round((xb[32 * j + l] + off) * inv, MidpointRounding.AwayFromZero);
                    q[32 * j + l] = (byte)Math.Clamp(v, 0, levels);
                }
            }
            MemoryMarshal.Write(yb, Fp32ToFp16(d));
            MemoryMarshal.Write(yb[2..], Fp32ToFp16(dmin));
            PackScaleMinK4(sc, mq, yb.Slice(4, 12));
            var qs = bits == 4 ? yb.Slice(16, 128) : yb.Slice(48, 128);
            var qh = yb.Slice(16, 32);
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++)
                {
                    int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                    qs[32 * c + l] = (byte)((lo & 0xF) | ((hi & 0xF) << 4));
                    if (bits == 5)
                        qh[l] |= (byte)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
                }
            }
        }
    }

    /// <summary>
    /// Step and offset (x ~ step*q - off, q in [0, levels], off >= 0) of one sub-block: the min/max grid and 20
    /// slightly stretched or shrunk grids (the idea of ggml's make_qkx2_quants, unweighted), each refitted by least
    /// squares for its levels; the one with the smallest squared error wins.
    /// </summary>
    private static (float Step, float Off) FitScaleMin(ReadOnlySpan<float> x, int levels)
    {
        int n = x.Length;
        float lo = 0f, hi = float.MinValue;
        for (int i = 0; i < n; i++) { lo = MathF.Min(lo, x[i]); hi = MathF.Max(hi, x[i]); }
        if (hi <= lo) return (0f, -lo);
        float bestStep = (hi - lo) / levels, bestOff = -lo;
        float bestErr = SubBlockError(x, bestStep, bestOff, levels);
        Span<int> L = stackalloc int[32];
        for (int k = 0; k <= 20; k++)
        {
            float iscale = (levels - 1f + 0.1f * k) / (hi - lo);
            double sl = 0, sx = 0, sll = 0, slx = 0;
            for (int i = 0; i < n; i++)
            {
                L[i] = Math.Clamp((int)MathF.Round(iscale * (x[i] - lo)), 0, levels);
                sl += L[i]; sx += x[i]; sll += L[i] * L[i]; slx += L[i] * x[i];
            }
            double det = n * sll - sl * sl;
            if (det <= 0) continue;
            double a = (n * slx - sl * sx) / det, bb = (sx - a * sl) / n;
            if (bb > 0) { bb = 0; a = sll > 0 ? slx / sll : 0; }
            if (a <= 0) continue;
            float err = SubBlockError(x, (float)a, (float)-bb, levels);
            if (err < bestErr) { bestErr = err; bestStep = (float)a; bestOff = (float)-bb; }
        }
        return (bestStep, bestOff);
    }

    private static float SubBlockError6(ReadOnlySpan<float> x, float step)
    {
        float inv = 1f / step, e = 0f;
        for (int i = 0; i < x.Length; i++)
        {
            float dlt = step * Math.Clamp((int)MathF.Round(x[i] * inv, MidpointRounding.AwayFromZero), -32, 31) - x[i];
            e += dlt * dlt;
        }
        return e;
    }

    private static float SubBlockError(ReadOnlySpan<float> x, float step, float off, int levels)
    {
        float inv = step > 0f ? 1f / step : 0f, e = 0f;
        for (int i = 0; i < x.Length; i++)
        {
            int q = Math.Clamp((int)MathF.Round((x[i] + off) * inv, MidpointRounding.AwayFromZero), 0, levels);
            float dlt = step * q - off - x[i];
            e += dlt * dlt;
        }
        return e;
    }

    /// <summary>Q6_K quantization of whole 256-element blocks (symmetric, 16 sub-blocks of 16).</summary>
    internal static void QuantizeRowQ6_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        int blocks = CheckKBlocks(x.Length, y.Length, Q6_KBlockBytes);
        Span<float> scale = stackalloc float[16];
        Span<byte> q = stackalloc byte[QKK];
        for (int b = 0; b < blocks; b++)
        {
            var xb = x.Slice(b * QKK, QKK);
            var yb = y.Slice(b * Q6_KBlockBytes, Q6_KBlockBytes);
            yb.Clear();
            float maxAbs = 0f;
            for (int j = 0; j < 16; j++)
            {
                scale[j] = FitScale6(xb.Slice(16 * j, 16));
                maxAbs = MathF.Max(maxAbs, MathF.Abs(scale[j]));
            }
            float d = Fp16ToFp32(Fp32ToFp16(maxAbs / 127f));
            var scales = MemoryMarshal.Cast<byte, sbyte>(yb.Slice(192, 16));
            for (int j = 0; j < 16; j++)
            {
                // Code of the fitted step: the nearest and its two neighbours, whichever requantizes with the least error.
                var xs = xb.Slice(16 * j, 16);
                int s = 0;
                if (d > 0f && scale[j] != 0f)
                {
                    int s0 = (int)MathF.Round(scale[j] / d);
                    float best = float.MaxValue;
                    for (int c = s0 - 1; c <= s0 + 1; c++)
                    {
                        int cv = Math.Clamp(c, -127, 127);
                        if (cv == 0) continue;
                        float e = SubBlockError6(xs, d * cv);
                        if (e < best) { best = e; s = cv; }
                    }
                }
                scales[j] = (sbyte)s;
                float step = d * s;
                float inv = step != 0f ? 1f / step : 0f;
                for (int l = 0; l < 16; l++)
                {
                    int v = (int)MathF.Round(xb[16 * j + l] * inv, MidpointRounding.AwayFromZero);
                    q[16 * j + l] = (byte)(Math.Clamp(v, -32, 31) + 32);
                }
            }
            MemoryMarshal.Write(yb[208..], Fp32ToFp16(d));
            var ql = yb[..128];
            var qh = yb.Slice(128, 64);
            for (int h = 0; h < 2; h++)
            {
                for (int l = 0; l < 32; l++)
                {
                    int q1 = q[128 * h + l], q2 = q[128 * h + l + 32], q3 = q[128 * h + l + 64], q4 = q[128 * h + l + 96];
                    ql[64 * h + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                    ql[64 * h + l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                    qh[32 * h + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
                }
            }
        }
    }

    /// <summary>
    /// Signed step of a 16-value Q6_K sub-block (x ~ step*q, q in [-32, 31]): the value of largest magnitude is
    /// mapped near -32 (so the asymmetric range is used fully, the step's sign follows it), trying 19 grids around
    /// that and refitting each by least squares (the idea of ggml's make_qx_quants, unweighted).
    /// </summary>
    private static float FitScale6(ReadOnlySpan<float> x)
    {
        float max = 0f;
        for (int i = 0; i < x.Length; i++) if (MathF.Abs(x[i]) > MathF.Abs(max)) max = x[i];
        if (max == 0f) return 0f;
        float best = -max / 32f, bestErr = float.MaxValue;
        for (int k = -9; k <= 9; k++)
        {
            float iscale = -(32f + 0.1f * k) / max;
            double slx = 0, sll = 0;
            for (int i = 0; i < x.Length; i++)
            {
                int l = Math.Clamp((int)MathF.Round(iscale * x[i]), -32, 31);
                slx += l * x[i]; sll += l * l;
            }
            if (sll == 0) continue;
            float step = (float)(slx / sll), err = 0f;
            for (int i = 0; i < x.Length; i++)
            {
                float dlt = step * Math.Clamp((int)MathF.Round(x[i] / step), -32, 31) - x[i];
                err += dlt * dlt;
            }
            if (err < bestErr) { bestErr = err; best = step; }
        }
        return best;
    }

    /// <summary>
    /// Q8_K activation quantization: d = amax/127 per 256 values, q = round(x/d) in [-127, 127] (never -128, so the
    /// sign tricks of the dots cannot overflow), plus the 16 sums of 16. Not byte-identical with ggml (which maps
    /// the signed max to -127 and may produce -128); Q8_K is never stored in files, only used in memory.
    /// </summary>
    public static void QuantizeRowQ8_K(ReadOnlySpan<float> x /*[n]*/, Span<byte> y /*[n/256*292]*/)
    {
        int blocks = CheckKBlocks(x.Length, y.Length, Q8_KBlockBytes);
        for (int b = 0; b < blocks; b++)
        {
            var xb = x.Slice(b * QKK, QKK);
            var yb = y.Slice(b * Q8_KBlockBytes, Q8_KBlockBytes);
            float amax = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(xb);
            amax = MathF.Abs(amax);
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            MemoryMarshal.Write(yb, d);
            var qs = MemoryMarshal.Cast<byte, sbyte>(yb.Slice(4, QKK));
            var bsums = MemoryMarshal.Cast<byte, short>(yb.Slice(4 + QKK, 32));
            for (int i = 0; i < 16; i++)
            {
                int s = 0;
                for (int l = 0; l < 16; l++)
                {
                    int v = Math.Clamp((int)MathF.Round(xb[16 * i + l] * id, MidpointRounding.AwayFromZero), -127, 127);
                    qs[16 * i + l] = (sbyte)v;
                    s += v;
                }
                bsums[i] = (short)s;
            }
        }
    }

    // ---------------------------------------------------------------- dequantize

    internal static void DequantizeRowQ45_K(ReadOnlySpan<byte> src, Span<float> dst, int bits)
    {
        int blockBytes = bits == 4 ? Q4_KBlockBytes : Q5_KBlockBytes;
        fixed (byte* p0 = src)
        {
            for (int b = 0; b < dst.Length / QKK; b++)
            {
                byte* p = p0 + b * blockBytes;
                float d = Fp16ToFp32(Unsafe.ReadUnaligned<ushort>(p));
                float dmin = Fp16ToFp32(Unsafe.ReadUnaligned<ushort>(p + 2));
                byte* qh = p + 16;
                byte* qs = bits == 4 ? p + 16 : p + 48;
                var y = dst.Slice(b * QKK, QKK);
                for (int c = 0; c < 4; c++)
                {
                    var (s1, m1) = ScaleMinK4(p + 4, 2 * c);
                    var (s2, m2) = ScaleMinK4(p + 4, 2 * c + 1);
                    for (int l = 0; l < 32; l++)
                    {
                        int lo = qs[32 * c + l] & 0xF, hi = qs[32 * c + l] >> 4;
                        if (bits == 5)
                        {
                            lo |= ((qh[l] >> (2 * c)) & 1) << 4;
                            hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
                        }
                        y[64 * c + l] = d * s1 * lo - dmin * m1;
                        y[64 * c + 32 + l] = d * s2 * hi - dmin * m2;
                    }
                }
            }
        }
    }

    internal static void DequantizeRowQ6_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int b = 0; b < dst.Length / QKK; b++)
        {
            var p = src.Slice(b * Q6_KBlockBytes, Q6_KBlockBytes);
            float d = Fp16ToFp32(MemoryMarshal.Read<ushort>(p[208..]));
            var y = dst.Slice(b * QKK, QKK);
            for (int h = 0; h < 2; h++)
            {
                var ql = p.Slice(64 * h, 64);
                var qh = p.Slice(128 + 32 * h, 32);
                for (int l = 0; l < 32; l++)
                {
                    int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    int e = 128 * h + l;                   // element; its 16-wide sub-block is e / 16
                    y[e] = d * (sbyte)p[192 + e / 16] * q1;
                    y[e + 32] = d * (sbyte)p[192 + (e + 32) / 16] * q2;
                    y[e + 64] = d * (sbyte)p[192 + (e + 64) / 16] * q3;
                    y[e + 96] = d * (sbyte)p[192 + (e + 96) / 16] * q4;
                }
            }
        }
    }

    private static int CheckKBlocks(int n, int bytes, int blockBytes)
    {
        if (n % QKK != 0) throw new ArgumentException($"A K-quant row needs a multiple of {QKK} elements, got {n}.", "x");
        int blocks = n / QKK;
        if (bytes < blocks * blockBytes) ThrowTooShort("y", (long)blocks * blockBytes, bytes);
        return blocks;
    }
}
