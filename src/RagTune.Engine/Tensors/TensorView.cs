namespace RagTune.Engine.Tensors;

/// <summary>
/// A read-only view of a 1-D or 2-D tensor living in memory the engine does not own (a memory-mapped model
/// file, or a native buffer). Rows are contiguous: element (r, c) is in row r, column c, and <see cref="Cols"/>
/// is ggml's ne[0] (the innermost dimension). A PyTorch weight <c>[out, in]</c> is Rows = out, Cols = in.
/// </summary>
public readonly unsafe struct TensorView
{
    internal readonly byte* Data;

    /// <summary>The element type of every row.</summary>
    public readonly GgmlType Type;

    /// <summary>Number of rows (ggml's ne[1]; 1 for a vector).</summary>
    public readonly long Rows;

    /// <summary>Elements per row (ggml's ne[0]).</summary>
    public readonly int Cols;
    internal readonly long RowBytes;

    internal TensorView(byte* data, GgmlType type, long rows, int cols)
    {
        Data = data;
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypes.Traits(type).RowBytes(cols);
    }

    internal long ByteLength => RowBytes * Rows;

    internal bool IsEmpty => Data == null;

    /// <summary>The bytes of row <paramref name="r"/>.</summary>
    public ReadOnlySpan<byte> Row(long r) => new(Data + r * RowBytes, checked((int)RowBytes));

    /// <summary>The whole tensor as F32 values; only valid for F32 tensors.</summary>
    public ReadOnlySpan<float> AsFloats()
    {
        if (Type != GgmlType.F32) throw new InvalidOperationException($"Tensor is {Type}, not F32.");
        return new ReadOnlySpan<float>(Data, checked((int)(Rows * Cols)));
    }
}
