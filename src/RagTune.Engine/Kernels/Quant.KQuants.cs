using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RagTune.Engine.Tensors;

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
// The quantizers are simpler than ggml's iterative search (make_qkx2_quants / make_qx_quants): scales and mins
// are chosen from each sub-block's range and rounded *up* to their 6-/8-bit codes, so no value is clipped, and
// then every value is rounded to the nearest level of its decoded scale. Error per element is therefore at most
// half of that sub-block's decoded step (tested), a little worse in RMS than ggml's search but the same layout.

internal static unsafe partial class Quant
{
    public const int QKK = 256;
    public const int Q4_KBlockBytes = 144;
    public const int Q5_KBlockBytes = 176;
    public const int Q6_KBlockBytes = 210;
    public const int Q8_KBlockBytes = 292;

    internal static bool IsKQuant(GgmlType type) => type is GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

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
        Span<float> need = stackalloc float[8];   // scale each sub-block needs once its min is fixed
        Span<float> mins = stackalloc float[8];   // -min of each sub-block (>= 0)
        Span<byte> sc = stackalloc byte[8], mq = stackalloc byte[8];
        Span<byte> q = stackalloc byte[QKK];
        for (int b = 0; b < blocks; b++)
        {
            var xb = x.Slice(b * QKK, QKK);
            var yb = y.Slice(b * blockBytes, blockBytes);
            yb.Clear();
            float maxMin = 0f;
            for (int j = 0; j < 8; j++)
            {
                float lo = 0f;                    // mins are stored as non-negative offsets: min is clamped to <= 0
                for (int l = 0; l < 32; l++) lo = MathF.Min(lo, xb[32 * j + l]);
                mins[j] = -lo;
                maxMin = MathF.Max(maxMin, -lo);
            }
            float dmin = Fp16ToFp32(Fp32ToFp16(maxMin / 63f));
            float maxNeed = 0f;
            for (int j = 0; j < 8; j++)
            {
                int m = dmin > 0f ? Math.Min(63, (int)MathF.Ceiling(mins[j] / dmin)) : 0;
                mq[j] = (byte)m;
                float hi = float.MinValue;
                for (int l = 0; l < 32; l++) hi = MathF.Max(hi, xb[32 * j + l]);
                need[j] = MathF.Max(0f, (hi + dmin * m) / levels);
                maxNeed = MathF.Max(maxNeed, need[j]);
            }
            float d = Fp16ToFp32(Fp32ToFp16(maxNeed / 63f));
            for (int j = 0; j < 8; j++)
            {
                sc[j] = d > 0f ? (byte)Math.Min(63, (int)MathF.Ceiling(need[j] / d)) : (byte)0;
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

    /// <summary>Q6_K quantization of whole 256-element blocks (symmetric, 16 sub-blocks of 16).</summary>
    internal static void QuantizeRowQ6_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        int blocks = CheckKBlocks(x.Length, y.Length, Q6_KBlockBytes);
        Span<float> need = stackalloc float[16];
        Span<byte> q = stackalloc byte[QKK];
        for (int b = 0; b < blocks; b++)
        {
            var xb = x.Slice(b * QKK, QKK);
            var yb = y.Slice(b * Q6_KBlockBytes, Q6_KBlockBytes);
            yb.Clear();
            float maxNeed = 0f;
            for (int j = 0; j < 16; j++)
            {
                float amax = 0f;
                for (int l = 0; l < 16; l++) amax = MathF.Max(amax, MathF.Abs(xb[16 * j + l]));
                need[j] = amax / 31f;             // levels -31..31 (ggml also uses -32 on one side)
                maxNeed = MathF.Max(maxNeed, need[j]);
            }
            float d = Fp16ToFp32(Fp32ToFp16(maxNeed / 127f));
            var scales = MemoryMarshal.Cast<byte, sbyte>(yb.Slice(192, 16));
            for (int j = 0; j < 16; j++)
            {
                int s = d > 0f ? Math.Min(127, (int)MathF.Ceiling(need[j] / d)) : 0;
                scales[j] = (sbyte)s;
                float step = d * s;
                float inv = step > 0f ? 1f / step : 0f;
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

    /// <summary>K-quant cases of <see cref="QuantizeRow"/>; false when <paramref name="type"/> is not a K-quant.</summary>
    private static bool TryQuantizeRowK(GgmlType type, ReadOnlySpan<float> x, Span<byte> y)
    {
        switch (type)
        {
            case GgmlType.Q4_K: QuantizeRowQ45_K(x, y, 4); return true;
            case GgmlType.Q5_K: QuantizeRowQ45_K(x, y, 5); return true;
            case GgmlType.Q6_K: QuantizeRowQ6_K(x, y); return true;
            case GgmlType.Q8_K: QuantizeRowQ8_K(x, y); return true;
            default: return false;
        }
    }

    /// <summary>K-quant cases of <see cref="DequantizeRow"/>; false when <paramref name="type"/> is not a K-quant.</summary>
    private static bool TryDequantizeRowK(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case GgmlType.Q4_K: DequantizeRowQ45_K(src, dst, 4); return true;
            case GgmlType.Q5_K: DequantizeRowQ45_K(src, dst, 5); return true;
            case GgmlType.Q6_K: DequantizeRowQ6_K(src, dst); return true;
            case GgmlType.Q8_K:
                for (int b = 0; b < dst.Length / QKK; b++)
                {
                    var p = src.Slice(b * Q8_KBlockBytes, Q8_KBlockBytes);
                    float d = MemoryMarshal.Read<float>(p);
                    for (int l = 0; l < QKK; l++) dst[b * QKK + l] = d * (sbyte)p[4 + l];
                }
                return true;
            default: return false;
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
