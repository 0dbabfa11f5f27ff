using RagTune.Engine.Tensors;

namespace RagTune.Engine.Formats;

/// <summary>
/// One tensor's entry in a GGUF file. <paramref name="Dims"/> is ggml's <c>ne</c>, innermost first: a PyTorch
/// weight <c>[out, in]</c> has Dims = [in, out]. <paramref name="Offset"/> is relative to the file's data offset.
/// </summary>
public readonly record struct GgufTensorInfo(string Name, GgmlType Type, long[] Dims, long Offset)
{
    /// <summary>Product of the dimensions (1 for a 0-D tensor).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dims) n = checked(n * d);
            return n;
        }
    }

    /// <summary>Bytes of tensor data: whole blocks of the type, row by row (ne[0] is a whole number of blocks).</summary>
    public long ByteLength
    {
        get => checked(GgmlTypes.Traits(Type).RowBytes(Dims.Length > 0 ? Dims[0] : 1) * Rows);
    }

    /// <summary>Rows of the 2-D view: the product of ne[1..].</summary>
    public long Rows
    {
        get
        {
            long n = 1;
            for (var i = 1; i < Dims.Length; i++) n = checked(n * Dims[i]);
            return n;
        }
    }

    /// <summary>Shape as ggml prints it, innermost first, e.g. <c>[64, 512]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Dims) + "]";
}
