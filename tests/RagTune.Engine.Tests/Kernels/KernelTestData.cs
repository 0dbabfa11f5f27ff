using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Tests.Kernels;

/// <summary>Seeded random inputs and tolerance helpers shared by the kernel tests.</summary>
internal static class KernelTestData
{
    public static float[] Floats(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>A [rows, cols] matrix stored as <paramref name="type"/>, plus its float source.</summary>
    public static byte[] Matrix(GgmlType type, float[] src /*[rows, cols]*/, int rows, int cols)
    {
        long rowBytes = GgmlTypes.Traits(type).RowBytes(cols);
        var bytes = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++)
            Quant.QuantizeRow(type, src.AsSpan(r * cols, cols), bytes.AsSpan((int)(r * rowBytes), (int)rowBytes));
        return bytes;
    }

    public static void Close(float expected, float actual, double tolerance, string what)
    {
        if (float.IsNaN(expected) && float.IsNaN(actual)) return;
        double err = Math.Abs((double)expected - actual);
        Assert.True(err <= tolerance, $"{what}: expected {expected:R}, got {actual:R}, |err| {err:E3} > tolerance {tolerance:E3}");
    }

    public static void AllClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double abs, double rel, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Close(expected[i], actual[i], abs + rel * Math.Abs(expected[i]), $"{what} [{i}]");
    }
}
