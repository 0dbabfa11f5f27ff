using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RagTune.Rag.Sqlite;

// Dimension legend
//   n   elements of both vectors
//
// Integer dot product of two int8 vectors, the filter pass of the quantized vector scan (VectorMatrix.Int8).
// Bytes are sign-extended to int16 and multiplied pairwise into int32 (pmaddwd): values are in [-127, 127]
// (quantization clamps), so a pair sum is at most 2·127² < 2^31 and n up to 2^31 / 127² ≈ 133k elements cannot
// overflow the int32 lanes. Paths go 512 → 256 → 128 bits → scalar tail; ScalarReference is kept as the spec.

/// <summary>Dot products of int8 vectors.</summary>
internal static class Int8Dot
{
    /// <summary>Longest vectors whose int32 sums cannot overflow (2^31 / 127²).</summary>
    public const int MaxLength = 133_000;

    /// <summary>Σ a[i]·b[i] in int32, exactly.</summary>
    public static int Dot(ReadOnlySpan<sbyte> a /*[n]*/, ReadOnlySpan<sbyte> b /*[n]*/)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Int8Dot: lengths {a.Length} and {b.Length} differ.", nameof(b));
        int n = a.Length, i = 0;
        ref sbyte pa = ref MemoryMarshal.GetReference(a);
        ref sbyte pb = ref MemoryMarshal.GetReference(b);
        int sum = 0;
        if (Avx512BW.IsSupported && n >= 32)
        {
            var acc = Vector512<int>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var x = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref pa, (nuint)i));
                var y = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref pb, (nuint)i));
                acc += Avx512BW.MultiplyAddAdjacent(x, y);
            }
            sum = Vector512.Sum(acc);
        }
        if (Avx2.IsSupported && n - i >= 16)
        {
            var acc = Vector256<int>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var x = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref pa, (nuint)i));
                var y = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref pb, (nuint)i));
                acc += Avx2.MultiplyAddAdjacent(x, y);
            }
            sum += Vector256.Sum(acc);
        }
        if (Sse41.IsSupported && n - i >= 8)
        {
            var acc = Vector128<int>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var x = Sse41.ConvertToVector128Int16(Vector128.CreateScalarUnsafe(MemoryMarshal.Read<long>(MemoryMarshal.AsBytes(a.Slice(i, 8)))).AsSByte());
                var y = Sse41.ConvertToVector128Int16(Vector128.CreateScalarUnsafe(MemoryMarshal.Read<long>(MemoryMarshal.AsBytes(b.Slice(i, 8)))).AsSByte());
                acc += Sse2.MultiplyAddAdjacent(x, y);
            }
            sum += Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Scalar reference of <see cref="Dot"/>.</summary>
    public static int ScalarReference(ReadOnlySpan<sbyte> a /*[n]*/, ReadOnlySpan<sbyte> b /*[n]*/)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Int8Dot: lengths {a.Length} and {b.Length} differ.", nameof(b));
        int sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}
