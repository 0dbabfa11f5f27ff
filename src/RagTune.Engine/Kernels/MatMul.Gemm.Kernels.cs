using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RagTune.Engine.Kernels;

// The micro-kernels of MatMul.Gemm.cs. Legend as there (kc steps of P, an MR×NR tile of C).
//
// Each keeps its MR×NR tile in MR·NR/W vector registers for the whole kc loop: per step two (or one) loads of the
// packed B panel, MR broadcasts of the packed A panel and MR·NR/W FMAs. Register budgets: AVX-512 has 32 registers,
// 8×32 uses 16 accumulators + 2 B vectors + 1 broadcast; AVX2 and SSE/NEON have 16, 6×16 and 6×8 use 12 + 2 + 1.
// Twelve or more independent accumulators cover the FMA latency (4 cycles) on both FMA ports.

internal static unsafe partial class MatMul
{
    /// <summary>The register tile of the widest vectors this machine runs.</summary>
    private static class GemmGeometry
    {
        /// <summary>The largest MR·NR: the stack tile the driver hands to <see cref="Kernel"/>.</summary>
        public const int MaxTile = 8 * 32;

        // Avx512F as well as IsHardwareAccelerated: .NET reports Vector512 as not accelerated on CPUs that lower their
        // clock for 512-bit work, yet still compiles it to AVX-512, which wins for a compute-bound kernel like this one.
        private static readonly bool s_wide = Avx512F.IsSupported || Vector512.IsHardwareAccelerated;

        /// <summary>Rows of the register tile (MR).</summary>
        public static readonly int Mr = s_wide ? 8 : Vector128.IsHardwareAccelerated ? 6 : 4;

        /// <summary>Columns of the register tile (NR).</summary>
        public static readonly int Nr = s_wide ? 32 : Vector256.IsHardwareAccelerated ? 16 : Vector128.IsHardwareAccelerated ? 8 : 4;

        /// <summary>tile[MR, NR] = A panel [kc, MR]ᵀ · B panel [kc, NR].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Kernel(float* a, float* b, int kc, float* tile)
        {
            if (s_wide) Kernel8x32(a, b, kc, tile);
            else if (Vector256.IsHardwareAccelerated) Kernel6x16(a, b, kc, tile);
            else if (Vector128.IsHardwareAccelerated) Kernel6x8(a, b, kc, tile);
            else KernelScalar4x4(a, b, kc, tile);
        }
    }

    /// <summary>tile[8, 32] = Σ_k a[k, i] · b[k, j]: AVX-512, 16 accumulators.</summary>
    private static void Kernel8x32(float* a /*[kc, 8]*/, float* b /*[kc, 32]*/, int kc, float* tile /*[8, 32]*/)
    {
        Vector512<float> c00 = default; Vector512<float> c01 = default;
        Vector512<float> c10 = default; Vector512<float> c11 = default;
        Vector512<float> c20 = default; Vector512<float> c21 = default;
        Vector512<float> c30 = default; Vector512<float> c31 = default;
        Vector512<float> c40 = default; Vector512<float> c41 = default;
        Vector512<float> c50 = default; Vector512<float> c51 = default;
        Vector512<float> c60 = default; Vector512<float> c61 = default;
        Vector512<float> c70 = default; Vector512<float> c71 = default;
        for (int k = 0; k < kc; k++, a += 8, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var s0 = Vector512.Create(a[0]); c00 = Vector512.MultiplyAddEstimate(s0, b0, c00); c01 = Vector512.MultiplyAddEstimate(s0, b1, c01);
            var s1 = Vector512.Create(a[1]); c10 = Vector512.MultiplyAddEstimate(s1, b0, c10); c11 = Vector512.MultiplyAddEstimate(s1, b1, c11);
            var s2 = Vector512.Create(a[2]); c20 = Vector512.MultiplyAddEstimate(s2, b0, c20); c21 = Vector512.MultiplyAddEstimate(s2, b1, c21);
            var s3 = Vector512.Create(a[3]); c30 = Vector512.MultiplyAddEstimate(s3, b0, c30); c31 = Vector512.MultiplyAddEstimate(s3, b1, c31);
            var s4 = Vector512.Create(a[4]); c40 = Vector512.MultiplyAddEstimate(s4, b0, c40); c41 = Vector512.MultiplyAddEstimate(s4, b1, c41);
            var s5 = Vector512.Create(a[5]); c50 = Vector512.MultiplyAddEstimate(s5, b0, c50); c51 = Vector512.MultiplyAddEstimate(s5, b1, c51);
            var s6 = Vector512.Create(a[6]); c60 = Vector512.MultiplyAddEstimate(s6, b0, c60); c61 = Vector512.MultiplyAddEstimate(s6, b1, c61);
            var s7 = Vector512.Create(a[7]); c70 = Vector512.MultiplyAddEstimate(s7, b0, c70); c71 = Vector512.MultiplyAddEstimate(s7, b1, c71);
        }
        c00.Store(tile + 0); c01.Store(tile + 16);
        c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80);
        c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144);
        c50.Store(tile + 160); c51.Store(tile + 176);
        c60.Store(tile + 192); c61.Store(tile + 208);
        c70.Store(tile + 224); c71.Store(tile + 240);
    }

    /// <summary>tile[6, 16] = Σ_k a[k, i] · b[k, j]: AVX2, 12 accumulators.</summary>
    private static void Kernel6x16(float* a /*[kc, 6]*/, float* b /*[kc, 16]*/, int kc, float* tile /*[6, 16]*/)
    {
        Vector256<float> c00 = default; Vector256<float> c01 = default;
        Vector256<float> c10 = default; Vector256<float> c11 = default;
        Vector256<float> c20 = default; Vector256<float> c21 = default;
        Vector256<float> c30 = default; Vector256<float> c31 = default;
        Vector256<float> c40 = default; Vector256<float> c41 = default;
        Vector256<float> c50 = default; Vector256<float> c51 = default;
        for (int k = 0; k < kc; k++, a += 6, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var s0 = Vector256.Create(a[0]); c00 = Vector256.MultiplyAddEstimate(s0, b0, c00); c01 = Vector256.MultiplyAddEstimate(s0, b1, c01);
            var s1 = Vector256.Create(a[1]); c10 = Vector256.MultiplyAddEstimate(s1, b0, c10); c11 = Vector256.MultiplyAddEstimate(s1, b1, c11);
            var s2 = Vector256.Create(a[2]); c20 = Vector256.MultiplyAddEstimate(s2, b0, c20); c21 = Vector256.MultiplyAddEstimate(s2, b1, c21);
            var s3 = Vector256.Create(a[3]); c30 = Vector256.MultiplyAddEstimate(s3, b0, c30); c31 = Vector256.MultiplyAddEstimate(s3, b1, c31);
            var s4 = Vector256.Create(a[4]); c40 = Vector256.MultiplyAddEstimate(s4, b0, c40); c41 = Vector256.MultiplyAddEstimate(s4, b1, c41);
            var s5 = Vector256.Create(a[5]); c50 = Vector256.MultiplyAddEstimate(s5, b0, c50); c51 = Vector256.MultiplyAddEstimate(s5, b1, c51);
        }
        c00.Store(tile + 0); c01.Store(tile + 8);
        c10.Store(tile + 16); c11.Store(tile + 24);
        c20.Store(tile + 32); c21.Store(tile + 40);
        c30.Store(tile + 48); c31.Store(tile + 56);
        c40.Store(tile + 64); c41.Store(tile + 72);
        c50.Store(tile + 80); c51.Store(tile + 88);
    }

    /// <summary>tile[6, 8] = Σ_k a[k, i] · b[k, j]: SSE or NEON, 12 accumulators.</summary>
    private static void Kernel6x8(float* a /*[kc, 6]*/, float* b /*[kc, 8]*/, int kc, float* tile /*[6, 8]*/)
    {
        Vector128<float> c00 = default; Vector128<float> c01 = default;
        Vector128<float> c10 = default; Vector128<float> c11 = default;
        Vector128<float> c20 = default; Vector128<float> c21 = default;
        Vector128<float> c30 = default; Vector128<float> c31 = default;
        Vector128<float> c40 = default; Vector128<float> c41 = default;
        Vector128<float> c50 = default; Vector128<float> c51 = default;
        for (int k = 0; k < kc; k++, a += 6, b += 8)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            var s0 = Vector128.Create(a[0]); c00 = Vector128.MultiplyAddEstimate(s0, b0, c00); c01 = Vector128.MultiplyAddEstimate(s0, b1, c01);
            var s1 = Vector128.Create(a[1]); c10 = Vector128.MultiplyAddEstimate(s1, b0, c10); c11 = Vector128.MultiplyAddEstimate(s1, b1, c11);
            var s2 = Vector128.Create(a[2]); c20 = Vector128.MultiplyAddEstimate(s2, b0, c20); c21 = Vector128.MultiplyAddEstimate(s2, b1, c21);
            var s3 = Vector128.Create(a[3]); c30 = Vector128.MultiplyAddEstimate(s3, b0, c30); c31 = Vector128.MultiplyAddEstimate(s3, b1, c31);
            var s4 = Vector128.Create(a[4]); c40 = Vector128.MultiplyAddEstimate(s4, b0, c40); c41 = Vector128.MultiplyAddEstimate(s4, b1, c41);
            var s5 = Vector128.Create(a[5]); c50 = Vector128.MultiplyAddEstimate(s5, b0, c50); c51 = Vector128.MultiplyAddEstimate(s5, b1, c51);
        }
        c00.Store(tile + 0); c01.Store(tile + 4);
        c10.Store(tile + 8); c11.Store(tile + 12);
        c20.Store(tile + 16); c21.Store(tile + 20);
        c30.Store(tile + 24); c31.Store(tile + 28);
        c40.Store(tile + 32); c41.Store(tile + 36);
        c50.Store(tile + 40); c51.Store(tile + 44);
    }

    /// <summary>tile[4, 4] = Σ_k a[k, i] · b[k, j] without vectors.</summary>
    private static void KernelScalar4x4(float* a /*[kc, 4]*/, float* b /*[kc, 4]*/, int kc, float* tile /*[4, 4]*/)
    {
        for (int e = 0; e < 16; e++) tile[e] = 0f;
        for (int k = 0; k < kc; k++, a += 4, b += 4)
            for (int i = 0; i < 4; i++)
            {
                float s = a[i];
                float* t = tile + i * 4;
                t[0] += s * b[0]; t[1] += s * b[1]; t[2] += s * b[2]; t[3] += s * b[3];
            }
    }
}
