using System.Text.Json;

namespace RagTune.Engine.Encoders;

/// <summary>
/// Writes a safetensors file (format as in <see cref="SafetensorsReader"/>): tensors in insertion order, header padded
/// with spaces to a multiple of 8 bytes as the reference implementation does, written to a temporary file and moved
/// into place. Used by the random-weight writers for tests and benchmarks.
/// </summary>
internal sealed class SafetensorsWriter
{
    private readonly List<(string Name, string DType, long[] Shape, byte[] Data)> _tensors = [];

    /// <summary>Adds an F32 tensor of PyTorch <paramref name="shape"/>, stored as F32 or (when <paramref name="f16"/>) F16.</summary>
    public void Add(string name, long[] shape, ReadOnlySpan<float> values, bool f16)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length)
            throw new ArgumentException($"Tensor '{name}' of shape [{string.Join(", ", shape)}] needs {count} values, got {values.Length}.", nameof(values));
        byte[] data;
        if (f16)
        {
            data = new byte[values.Length * 2];
            var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(data.AsSpan());
            for (int i = 0; i < values.Length; i++) h[i] = (Half)values[i];
        }
        else
        {
            data = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray();
        }
        _tensors.Add((name, f16 ? "F16" : "F32", shape, data));
    }

    /// <summary>Writes the file.</summary>
    public void Write(string path)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            w.WriteEndObject();
            long offset = 0;
            foreach (var (name, dtype, shape, data) in _tensors)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (var s in shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += data.Length;
            }
            w.WriteEndObject();
        }
        var header = ms.ToArray().ToList();
        while (header.Count % 8 != 0) header.Add((byte)' ');
        var tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            f.Write(BitConverter.GetBytes((long)header.Count));
            f.Write(header.ToArray());
            foreach (var t in _tensors) f.Write(t.Data);
        }
        File.Move(tmp, path, overwrite: true);
    }
}
