using System.Text.Json;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Formats;

/// <summary>One tensor's entry in a safetensors header; offsets are relative to the data section.</summary>
public sealed record SafetensorsTensorInfo(string Name, string Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));
}

/// <summary>
/// A Hugging Face safetensors file, memory-mapped (https://github.com/huggingface/safetensors, "Format"):
/// an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor name to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (plus an optional <c>__metadata__</c> string map), then the
/// data section. Row-major (C order), little-endian. Every offset and size is checked at open, so a file whose header
/// lies fails with the tensor named instead of reading out of bounds. Views are invalid once this is disposed.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>The key of the free-form string map in the header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>The reference implementation refuses headers over 100 MB (a corrupt length, not a real model).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MappedFile _file;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;

    private SafetensorsFile(MappedFile file, long dataOffset, List<SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        _file = file;
        DataOffset = dataOffset;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Full path of the file.</summary>
    public string Path => _file.Path;

    /// <summary>Start of the data section: 8 + header length.</summary>
    public long DataOffset { get; }

    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> strings (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Element size in bytes of a safetensors dtype name, or 0 when the name is unknown.</summary>
    public static int ElementSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "I64" or "U64" or "F64" => 8,
        _ => 0,
    };

    /// <summary>The engine type of a dtype the engine computes with (F32, F16, BF16), or null.</summary>
    public static GgmlType? EngineType(string dtype) => dtype switch
    {
        "F32" => GgmlType.F32,
        "F16" => GgmlType.F16,
        "BF16" => GgmlType.BF16,
        _ => null,
    };

    /// <summary>The safetensors dtype name of an engine type (F32, F16, BF16 only).</summary>
    public static string DtypeName(GgmlType type) => type switch
    {
        GgmlType.F32 => "F32",
        GgmlType.F16 => "F16",
        GgmlType.BF16 => "BF16",
        _ => throw new ArgumentException($"safetensors holds f32, f16 or bf16 weights, not {GgmlTypes.Traits(type).Name}; quantized types live in GGUF files.", nameof(type)),
    };

    /// <summary>Maps and validates <paramref name="path"/>; a missing file is a <see cref="FileNotFoundException"/>.</summary>
    public static SafetensorsFile Open(string path)
    {
        var file = MappedFile.Open(path);
        try
        {
            var (dataOffset, tensors, metadata) = ParseHeader(file);
            return new SafetensorsFile(file, dataOffset, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (long, List<SafetensorsTensorInfo>, Dictionary<string, string>) ParseHeader(MappedFile file)
    {
        string src = file.Path;
        ModelFormatException Bad(string what) => new(src, $"{what} The file is truncated or not a safetensors file; re-download or re-convert it.");
        if (file.Length < 8) throw Bad($"the file is {file.Length} bytes long, shorter than the 8-byte header length.");
        ulong n = *(ulong*)file.Pointer; // little-endian on every platform .NET runs models on
        if (n > MaxHeaderBytes) throw Bad($"the header length field says {n} bytes, over the {MaxHeaderBytes}-byte limit.");
        if ((long)n > file.Length - 8) throw Bad($"the header length field says {n} bytes but only {file.Length - 8} follow it.");
        long dataOffset = 8 + (long)n;
        long dataLength = file.Length - dataOffset;

        var headerBytes = new ReadOnlySpan<byte>(file.Pointer + 8, (int)n);
        // JsonDocument parses invalid UTF-8 inside strings and fails only when a name or value is read, with an
        // InvalidOperationException: check the encoding first (found by FormatFuzzTests).
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
            throw Bad($"the {n}-byte JSON header is not valid UTF-8 (at byte {8 + InvalidUtf8At(headerBytes)}).");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(headerBytes.ToArray()));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(src, $"the JSON header is invalid ({e.Message}). The file is corrupt; re-download it.", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("the JSON header is not an object.");
            var tensors = new List<SafetensorsTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name)) throw Bad($"the header names '{prop.Name}' twice.");
                if (prop.Name == MetadataKey)
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad($"'{MetadataKey}' is not an object.");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                tensors.Add(ParseTensor(src, prop, dataLength));
            }
            // Spec: the data section is fully indexed, without overlaps.
            var byOffset = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
            for (int i = 1; i < byOffset.Count; i++)
                if (byOffset[i].Begin < byOffset[i - 1].End)
                    throw Bad($"tensors '{byOffset[i - 1].Name}' [{byOffset[i - 1].Begin}, {byOffset[i - 1].End}) and '{byOffset[i].Name}' [{byOffset[i].Begin}, {byOffset[i].End}) overlap.");
            return (dataOffset, tensors, metadata);
        }
    }

    private static int InvalidUtf8At(ReadOnlySpan<byte> bytes)
    {
        var valid = 0;
        while (valid < bytes.Length)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes[valid..], out _, out var consumed);
            if (status != System.Buffers.OperationStatus.Done) return valid;
            valid += consumed;
        }
        return valid;
    }

    private static SafetensorsTensorInfo ParseTensor(string src, JsonProperty prop, long dataLength)
    {
        string name = prop.Name;
        ModelFormatException Bad(string what) => new(src, $"tensor '{name}': {what} The header is inconsistent; re-download or re-convert the file.");
        var e = prop.Value;
        if (e.ValueKind != JsonValueKind.Object) throw Bad("the entry is not an object.");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad("'dtype' is missing.");
        string dtype = dt.GetString()!;
        int elem = ElementSize(dtype);
        if (elem == 0) throw Bad($"dtype '{dtype}' is unknown.");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("'shape' is missing.");
        var shape = new long[sh.GetArrayLength()];
        int k = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0) throw Bad($"shape {sh.GetRawText()} has a dimension that is not a non-negative integer.");
            shape[k++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end))
            throw Bad("'data_offsets' must be two integers [begin, end].");
        if (begin < 0 || end < begin) throw Bad($"data_offsets [{begin}, {end}] are not an increasing pair.");
        if (end > dataLength) throw Bad($"data_offsets end {end} lies past the end of the data section ({dataLength} bytes); the file is truncated.");
        var info = new SafetensorsTensorInfo(name, dtype, shape, begin, end);
        long expected;
        try { expected = checked(info.ElementCount * elem); }
        catch (OverflowException) { throw Bad($"shape {sh.GetRawText()} is too large."); }
        if (end - begin != expected)
            throw Bad($"{dtype} {sh.GetRawText()} needs {expected} bytes but data_offsets [{begin}, {end}] span {end - begin}.");
        return info;
    }

    /// <summary>The header entry of <paramref name="name"/>, or null.</summary>
    internal SafetensorsTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The raw bytes of a tensor, in place.</summary>
    internal ReadOnlySpan<byte> GetBytes(SafetensorsTensorInfo info) =>
        new(_file.Pointer + DataOffset + info.Begin, checked((int)(info.End - info.Begin)));

    /// <summary>
    /// A view of tensor <paramref name="name"/> as the engine sees it: the last dimension is the row width
    /// (PyTorch <c>[out, in]</c> is Rows = out, Cols = in); a 1-D tensor is one row. False when absent.
    /// </summary>
    public bool TryGetTensor(string name, out TensorView view)
    {
        if (!_byName.TryGetValue(name, out var info))
        {
            view = default;
            return false;
        }
        var type = EngineType(info.Dtype)
            ?? throw new ModelFormatException(Path, $"tensor '{name}' has dtype {info.Dtype}; the engine runs F32, F16 or BF16 safetensors. Convert the model to one of those.");
        if (info.Shape.Length is 0 or > 2)
            throw new ModelFormatException(Path, $"tensor '{name}' has shape [{string.Join(", ", info.Shape)}]; model weights are 1-D or 2-D.");
        long cols = info.Shape[^1];
        if (cols > int.MaxValue) throw new ModelFormatException(Path, $"tensor '{name}' rows of {cols} elements are too wide.");
        long rows = info.Shape.Length == 2 ? info.Shape[0] : 1;
        view = new TensorView(_file.Pointer + DataOffset + info.Begin, type, rows, (int)cols);
        return true;
    }

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}
