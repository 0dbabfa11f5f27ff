using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RagTune.Engine.Kernels;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Formats;

/// <summary>
/// Builds a safetensors file: tensors in the order added, the JSON header padded with spaces to a multiple of 8
/// bytes (so the data section starts aligned, as the reference writer does), written atomically like
/// <see cref="GgufWriter"/>. Identical input gives identical bytes.
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly List<KeyValuePair<string, string>> _metadata = [];
    private readonly List<(string Name, string Dtype, long[] Shape, long Bytes, Action<Stream> Write)> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Sets a <c>__metadata__</c> string (insertion order kept; a repeated key replaces its value).</summary>
    public void SetMetadata(string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        int i = _metadata.FindIndex(kv => kv.Key == key);
        if (i >= 0) _metadata[i] = new(key, value);
        else _metadata.Add(new(key, value));
    }

    /// <summary>
    /// Adds a tensor of an engine type (F32, F16, BF16) with PyTorch shape <paramref name="shape"/> (outermost first);
    /// <paramref name="writeData"/> streams its row-major bytes during <see cref="Write"/>.
    /// </summary>
    public void AddTensor(string name, GgmlType type, long[] shape, Action<Stream> writeData) =>
        AddTensor(name, SafetensorsFile.DtypeName(type), shape, writeData);

    /// <summary>Adds a tensor of any safetensors dtype; the callback must write exactly its byte size.</summary>
    public void AddTensor(string name, string dtype, long[] shape, Action<Stream> writeData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(writeData);
        if (name == SafetensorsFile.MetadataKey) throw new ArgumentException($"'{name}' is reserved for metadata.", nameof(name));
        int elem = SafetensorsFile.ElementSize(dtype);
        if (elem == 0) throw new ArgumentException($"Unknown safetensors dtype '{dtype}'.", nameof(dtype));
        if (Array.Exists(shape, d => d < 0)) throw new ArgumentException($"Tensor '{name}' has a negative dimension.", nameof(shape));
        if (!_names.Add(name)) throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        long bytes = checked(shape.Aggregate(1L, (a, d) => checked(a * d)) * elem);
        _tensors.Add((name, dtype, (long[])shape.Clone(), bytes, writeData));
    }

    /// <summary>Adds a tensor whose bytes are given now (copied).</summary>
    public void AddTensor(string name, GgmlType type, long[] shape, ReadOnlySpan<byte> data)
    {
        var copy = data.ToArray();
        AddTensor(name, type, shape, s => s.Write(copy));
        if (_tensors[^1].Bytes != copy.Length)
        {
            _tensors.RemoveAt(_tensors.Count - 1);
            _names.Remove(name);
            throw new ArgumentException($"Tensor '{name}' has {copy.Length} bytes of data, which does not match its dtype and shape.", nameof(data));
        }
    }

    /// <summary>
    /// Adds float values of PyTorch shape <paramref name="shape"/> stored as <paramref name="type"/> (F32, F16 or BF16),
    /// converted now with <see cref="Quant.QuantizeRow"/> (round to nearest even, as torch's <c>.half()</c> and
    /// <c>.bfloat16()</c> do), so a checkpoint written from floats rounds like one saved by PyTorch.
    /// </summary>
    public void AddTensor(string name, GgmlType type, long[] shape, ReadOnlySpan<float> values)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var dtype = SafetensorsFile.DtypeName(type);
        long count = shape.Aggregate(1L, (a, d) => checked(a * d));
        if (count != values.Length)
            throw new ArgumentException($"Tensor '{name}' of shape [{string.Join(", ", shape)}] needs {count} values, got {values.Length}.", nameof(values));
        var data = new byte[checked(values.Length * SafetensorsFile.ElementSize(dtype))];
        Quant.QuantizeRow(type, values, data);
        AddTensor(name, type, shape, s => s.Write(data));
    }

    /// <summary>The header bytes (JSON padded with spaces to a multiple of 8).</summary>
    public byte[] Header()
    {
        var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer))
        {
            j.WriteStartObject();
            if (_metadata.Count > 0)
            {
                j.WriteStartObject(SafetensorsFile.MetadataKey);
                foreach (var (k, v) in _metadata) j.WriteString(k, v);
                j.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                j.WriteStartObject(t.Name);
                j.WriteString("dtype", t.Dtype);
                j.WriteStartArray("shape");
                foreach (var d in t.Shape) j.WriteNumberValue(d);
                j.WriteEndArray();
                j.WriteStartArray("data_offsets");
                j.WriteNumberValue(offset);
                j.WriteNumberValue(offset + t.Bytes);
                j.WriteEndArray();
                j.WriteEndObject();
                offset += t.Bytes;
            }
            j.WriteEndObject();
        }
        while (buffer.Length % 8 != 0) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/>, flushes it to disk and renames it into place.</summary>
    public void Write(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                var header = Header();
                Span<byte> len = stackalloc byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (var t in _tensors)
                {
                    long before = fs.Position;
                    t.Write(fs);
                    if (fs.Position - before != t.Bytes)
                        throw new InvalidOperationException($"The data callback of tensor '{t.Name}' wrote {fs.Position - before} bytes; its {t.Dtype} [{string.Join(", ", t.Shape)}] shape needs {t.Bytes}.");
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes text (a config.json, an index) atomically, the same way.</summary>
    public static void WriteText(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        try
        {
            File.WriteAllText(tmp, text, new UTF8Encoding(false));
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
