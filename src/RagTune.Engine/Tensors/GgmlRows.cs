using RagTune.Engine.Kernels;

namespace RagTune.Engine.Tensors;

/// <summary>
/// One tensor row converted between floats and a tensor type: what model writers, converters and adapter exporters
/// above the engine need of the quantization kernels, which stay internal.
/// </summary>
public static class GgmlRows
{
    /// <summary>
    /// Quantizes <paramref name="x"/> to <paramref name="type"/> (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) into
    /// <paramref name="y"/>, which holds <see cref="GgmlTypeTraits.RowBytes"/> bytes; byte-exact with ggml's reference quantizers.
    /// </summary>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> x, Span<byte> y) => Quant.QuantizeRow(type, x, y);

    /// <summary>Expands one row of <paramref name="type"/> in <paramref name="src"/> to the floats of <paramref name="dst"/>.</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst) => Quant.DequantizeRow(type, src, dst);
}
