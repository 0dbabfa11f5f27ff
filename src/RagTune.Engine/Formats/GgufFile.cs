using System.Buffers.Binary;
using System.Numerics;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Formats;

/// <summary>
/// A GGUF model file (versions 2 and 3), memory-mapped read-only. The header, metadata and tensor infos are parsed
/// and validated on <see cref="Open"/>; tensor data is used in place through <see cref="TensorView"/>s, never
/// copied. Views are valid until the file is disposed. Immutable and thread-safe after opening.
/// </summary>
/// <remarks>
/// Layout (ggml docs/gguf.md): magic "GGUF", uint32 version, uint64 tensor count, uint64 metadata count; metadata
/// as (string key, uint32 type, value); tensor infos as (string name, uint32 n_dims, uint64 ne[n_dims], uint32 type,
/// uint64 offset); padding to <c>general.alignment</c> (default 32); tensor data. All little-endian; strings are a
/// uint64 byte length followed by UTF-8 without terminator.
/// </remarks>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>Alignment of tensor data when <c>general.alignment</c> is absent (GGUF_DEFAULT_ALIGNMENT).</summary>
    public const int DefaultAlignment = 32;

    /// <summary>The metadata key that sets the alignment of tensor data.</summary>
    public const string AlignmentKey = "general.alignment";

    /// <summary>ggml's GGML_MAX_DIMS: tensors have at most four dimensions.</summary>
    public const int MaxDims = 4;

    private const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32

    // Smallest encodings, used to reject absurd counts before allocating: a tensor info is an empty name (8),
    // n_dims (4), type (4) and offset (8); a metadata pair is an empty key (8), a type (4) and a 1-byte value.
    private const int MinTensorInfoBytes = 24;
    private const int MinMetadataBytes = 13;

    private readonly MappedFile _file;
    private readonly Dictionary<string, GgufValue> _metadata;
    private readonly Dictionary<string, int> _tensorIndex;
    private readonly GgufTensorInfo[] _tensors;

    private GgufFile(MappedFile file, uint version, int alignment, long dataOffset, string[] keys,
        Dictionary<string, GgufValue> metadata, GgufTensorInfo[] tensors, Dictionary<string, int> tensorIndex)
    {
        _file = file;
        Version = version;
        Alignment = alignment;
        DataOffset = dataOffset;
        MetadataKeys = keys;
        _metadata = metadata;
        _tensors = tensors;
        _tensorIndex = tensorIndex;
    }

    /// <summary>Full path of the file.</summary>
    public string Path => _file.Path;

    /// <summary>GGUF version: 2 or 3.</summary>
    public uint Version { get; }

    /// <summary>File size in bytes.</summary>
    public long FileSize => _file.Length;

    /// <summary>Alignment of tensor data (<c>general.alignment</c>, default 32).</summary>
    public int Alignment { get; }

    /// <summary>File offset where tensor data starts; tensor offsets are relative to it.</summary>
    public long DataOffset { get; }

    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> MetadataKeys { get; }

    /// <summary>All metadata by key.</summary>
    public IReadOnlyDictionary<string, GgufValue> Metadata => _metadata;

    /// <summary>Tensor infos in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors;

    /// <summary>First byte of the mapped file, for callers that need raw access (e.g. copying tensor data).</summary>
    public byte* BasePointer => _file.Pointer;

    /// <summary>
    /// Maps and parses <paramref name="path"/>. Throws <see cref="FileNotFoundException"/> when it does not exist
    /// and <see cref="ModelFormatException"/> for anything that is not a valid GGUF v2/v3 file.
    /// </summary>
    public static GgufFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF reading needs a little-endian machine.");
        var file = MappedFile.Open(path);
        try
        {
            return Parse(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static GgufFile Parse(MappedFile file)
    {
        var c = new GgufCursor(file.Pointer, file.Length, file.Path);
        if (file.Length == 0)
            throw c.Error("the file is empty (0 bytes), not a GGUF model. Re-download the model; the download probably failed.");
        if (file.Length < 4)
            throw c.Error($"the file is only {file.Length} bytes, too short for the GGUF magic. Re-download the model.");

        var magic = c.ReadUInt32("the magic");
        if (magic != Magic)
            throw c.Error(DescribeWrongMagic(file.Pointer, file.Length));

        var version = c.ReadUInt32("the version");
        if (version is not (2 or 3))
            throw c.Error(DescribeWrongVersion(version));

        var tensorCount = c.ReadUInt64("the tensor count");
        var kvCount = c.ReadUInt64("the metadata count");
        if (kvCount > (ulong)(c.Remaining / MinMetadataBytes))
            throw c.Error($"the header claims {kvCount} metadata pairs at offset 16, more than the {c.Remaining} bytes left can hold; the file is corrupt or truncated. Re-download the model.");
        if (tensorCount > (ulong)(c.Remaining / MinTensorInfoBytes))
            throw c.Error($"the header claims {tensorCount} tensors at offset 8, more than the {c.Remaining} bytes left can hold; the file is corrupt or truncated. Re-download the model.");

        // ---- metadata -------------------------------------------------------------------------------------
        // Counts were bounded by the bytes left, but a huge file could still claim billions: collections grow as
        // entries are actually parsed instead of being sized from the header.
        if (kvCount > int.MaxValue || tensorCount > int.MaxValue)
            throw c.Error($"the header claims {kvCount} metadata pairs and {tensorCount} tensors, more than any model has; the file is corrupt.");
        var keys = new List<string>((int)Math.Min(kvCount, 1024));
        var metadata = new Dictionary<string, GgufValue>((int)Math.Min(kvCount, 1024), StringComparer.Ordinal);
        for (var i = 0; i < (int)kvCount; i++)
        {
            var at = c.Position;
            var key = c.ReadString($"metadata key #{i}");
            var type = c.ReadValueType($"metadata '{key}'");
            var value = c.ReadValue(type, $"metadata '{key}'");
            if (!metadata.TryAdd(key, value))
                throw c.Error($"metadata key '{key}' at offset {at} appears twice; the file is corrupt. Re-convert the model.");
            keys.Add(key);
        }

        var alignment = DefaultAlignment;
        if (metadata.TryGetValue(AlignmentKey, out var alignValue))
        {
            var a = alignValue.Value switch
            {
                uint u => (long)u,
                int s => s,
                ulong u => u > int.MaxValue ? -1 : (long)u,
                _ => -1,
            };
            if (a <= 0 || a > 1 << 30 || !BitOperations.IsPow2(a))
                throw c.Error($"metadata '{AlignmentKey}' is {alignValue} ({alignValue.Type}); it must be a power of two (usually 32). Re-convert the model.");
            alignment = (int)a;
        }

        // ---- tensor infos ---------------------------------------------------------------------------------
        var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 1024));
        var rawTypes = new List<(uint Type, long At)>(tensors.Capacity);
        var index = new Dictionary<string, int>(tensors.Capacity, StringComparer.Ordinal);
        for (var i = 0; i < (int)tensorCount; i++)
        {
            var at = c.Position;
            var name = c.ReadString($"the name of tensor #{i}");
            var nDims = c.ReadUInt32($"the dimension count of tensor '{name}'");
            if (nDims > MaxDims)
                throw c.Error($"tensor '{name}' at offset {at} has {nDims} dimensions; ggml allows at most {MaxDims}. The file is corrupt.");
            var dims = new long[nDims];
            for (var d = 0; d < dims.Length; d++)
            {
                var ne = c.ReadUInt64($"dimension {d} of tensor '{name}'");
                if (ne > long.MaxValue)
                    throw c.Error($"tensor '{name}' at offset {at} has dimension {d} = {ne}, which is negative as int64; the file is corrupt.");
                dims[d] = (long)ne;
            }
            var typeAt = c.Position;
            var type = c.ReadUInt32($"the type of tensor '{name}'");
            var offset = c.ReadUInt64($"the data offset of tensor '{name}'");
            if (offset > long.MaxValue)
                throw c.Error($"tensor '{name}' at offset {at} has data offset {offset}, beyond any file; the file is corrupt.");
            if (!index.TryAdd(name, i))
                throw c.Error($"tensor name '{name}' at offset {at} appears twice; the file is corrupt. Re-convert the model.");
            tensors.Add(new GgufTensorInfo(name, (GgmlType)type, dims, (long)offset));
            rawTypes.Add((type, typeAt));
        }

        var dataOffset = AlignUp(c.Position, alignment);
        for (var i = 0; i < tensors.Count; i++)
            Validate(c, tensors[i], rawTypes[i].Type, rawTypes[i].At, alignment, dataOffset, file.Length);

        return new GgufFile(file, version, alignment, dataOffset, [.. keys], metadata, [.. tensors], index);
    }

    private static void Validate(GgufCursor c, in GgufTensorInfo t, uint rawType, long typeAt, int alignment, long dataOffset, long fileSize)
    {
        if (!GgmlTypes.IsKnown(rawType))
            throw c.Error($"tensor '{t.Name}' has unknown type number {rawType} (at offset {typeAt}); the file is corrupt or uses a ggml type newer than this reader knows.");
        var traits = GgmlTypes.Traits(t.Type);
        var cols = t.Dims.Length > 0 ? t.Dims[0] : 1;
        if (cols % traits.BlockSize != 0)
            throw c.Error($"tensor '{t.Name}' {t.ShapeText} of type {traits.Name}: ne[0] = {cols} is not a whole number of {traits.BlockSize}-element blocks; the file is corrupt.");
        if (cols > int.MaxValue)
            throw c.Error($"tensor '{t.Name}' {t.ShapeText}: rows of {cols} elements are longer than this engine supports (int32 columns).");
        long bytes;
        try
        {
            bytes = t.ByteLength;
        }
        catch (OverflowException)
        {
            throw c.Error($"tensor '{t.Name}' {t.ShapeText}: its size overflows 64 bits; the file is corrupt.");
        }
        if (t.Offset % alignment != 0)
            throw c.Error($"tensor '{t.Name}' has data offset {t.Offset}, not a multiple of the alignment {alignment}; the file is corrupt or was written by a broken converter. Re-convert the model.");
        var available = fileSize - dataOffset;
        if (t.Offset > available || bytes > available - t.Offset)
        {
            throw c.Error($"the file is truncated: tensor '{t.Name}' ({traits.Name} {t.ShapeText}) needs bytes up to " +
                $"{(UInt128)(ulong)dataOffset + (ulong)t.Offset + (ulong)bytes} " +
                $"but the file has {fileSize}. Re-download the file.");
        }
    }

    internal static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;

    private static string DescribeWrongMagic(byte* p, long length)
    {
        var head = new ReadOnlySpan<byte>(p, (int)Math.Min(length, 8));
        var shown = Convert.ToHexString(head[..4]);
        var hint = "";
        var first = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (first is 0x67676a74 or 0x67676d66 or 0x67676d6c or 0x67676c61)
            hint = " It is a pre-GGUF ggml/ggjt model; convert it to GGUF with llama.cpp's convert scripts.";
        else if (first == LlamaCCheckpoint.VersionedMagic)
            hint = " It looks like a llama2.c versioned ('ak42') checkpoint; those are not GGUF.";
        else if (length >= 9 && p[8] == (byte)'{')
            hint = " It looks like a safetensors file, not GGUF.";
        else if (head[0] == (byte)'{' || head[0] == (byte)'<')
            hint = " It looks like a text (JSON/HTML) file, perhaps an error page saved by a failed download.";
        else if (head.StartsWith("FUGG"u8))
            hint = " The magic is byte-reversed: this may be a big-endian GGUF, which is not supported.";
        return $"not a GGUF file: the first bytes are 0x{shown}, expected \"GGUF\" (0x47475546).{hint} Check the path or re-download the model.";
    }

    private static string DescribeWrongVersion(uint version)
    {
        if (version == 1)
            return "GGUF version 1 is not supported (it used 32-bit counts and was replaced in 2023); re-convert the model with a current llama.cpp.";
        var swapped = BinaryPrimitives.ReverseEndianness(version);
        if (swapped is 1 or 2 or 3)
            return $"this is a big-endian GGUF v{swapped} file (version field 0x{version:x8} at offset 4); only little-endian GGUF is supported. Use a little-endian conversion of the model.";
        return $"unsupported GGUF version {version} at offset 4 (this reader handles versions 2 and 3); the file is corrupt or from a newer GGUF revision.";
    }

    // ---- tensors ----------------------------------------------------------------------------------------------

    /// <summary>Finds a tensor by name and returns a view of its data in place.</summary>
    public bool TryGetTensor(string name, out TensorView view)
    {
        if (!_tensorIndex.TryGetValue(name, out var i))
        {
            view = default;
            return false;
        }
        view = ViewOf(_tensors[i]);
        return true;
    }

    /// <summary>A view of tensor <paramref name="name"/>; throws <see cref="ModelFormatException"/> naming it when absent.</summary>
    public TensorView GetTensor(string name) => TryGetTensor(name, out var v) ? v
        : throw new ModelFormatException(Path, $"tensor '{name}' is missing ({_tensors.Length} tensors in the file); the model is incomplete or of a different architecture than expected.");

    /// <summary>The raw bytes of a tensor (for copying); the tensor must be under 2 GiB.</summary>
    public ReadOnlySpan<byte> GetTensorBytes(in GgufTensorInfo info) =>
        new(_file.Pointer + DataOffset + info.Offset, checked((int)info.ByteLength));

    private TensorView ViewOf(in GgufTensorInfo t) =>
        new(_file.Pointer + DataOffset + t.Offset, t.Type, t.Rows, t.Dims.Length > 0 ? (int)t.Dims[0] : 1);

    // ---- typed metadata accessors -----------------------------------------------------------------------------

    /// <summary>A string value; null when absent.</summary>
    public string? GetString(string key) => Find(key) is { } v ? v.Value as string ?? throw WrongType(key, v, "a string") : null;

    /// <summary>Any integer value widened to long; null when absent.</summary>
    public long? GetInt(string key)
    {
        if (Find(key) is not { } v) return null;
        return v.Value switch
        {
            byte x => x,
            sbyte x => x,
            ushort x => x,
            short x => x,
            uint x => x,
            int x => x,
            long x => x,
            ulong x when x <= long.MaxValue => (long)x,
            ulong x => throw new ModelFormatException(Path, $"metadata '{key}' is {x}, too large for a signed 64-bit integer."),
            _ => throw WrongType(key, v, "an integer"),
        };
    }

    /// <summary>A float32 or float64 value; null when absent.</summary>
    public float? GetFloat(string key) => Find(key) is not { } v ? null : v.Value switch
    {
        float f => f,
        double d => (float)d,
        _ => throw WrongType(key, v, "a float"),
    };

    /// <summary>A bool value; null when absent.</summary>
    public bool? GetBool(string key) => Find(key) is not { } v ? null : v.Value as bool? ?? throw WrongType(key, v, "a bool");

    /// <summary>An array of strings; null when absent.</summary>
    public string[]? GetStringArray(string key) => Find(key) is not { } v ? null : v.Value as string[] ?? throw WrongType(key, v, "an array of strings");

    /// <summary>An array of float32 (or float64, narrowed); null when absent.</summary>
    public float[]? GetFloatArray(string key) => Find(key) is not { } v ? null : v.Value switch
    {
        float[] f => f,
        double[] d => Array.ConvertAll(d, x => (float)x),
        _ => throw WrongType(key, v, "an array of floats"),
    };

    /// <summary>An array of any integer type converted to int (values must fit); null when absent.</summary>
    public int[]? GetIntArray(string key)
    {
        if (Find(key) is not { } v) return null;
        // Switch on the GGUF element type, not the CLR array type: the runtime lets a uint[] pass as an int[].
        return v.ArrayElementType switch
        {
            GgufValueType.Int32 => (int[])v.Value,
            GgufValueType.UInt8 => Array.ConvertAll((byte[])v.Value, x => (int)x),
            GgufValueType.Int8 => Array.ConvertAll((sbyte[])v.Value, x => (int)x),
            GgufValueType.UInt16 => Array.ConvertAll((ushort[])v.Value, x => (int)x),
            GgufValueType.Int16 => Array.ConvertAll((short[])v.Value, x => (int)x),
            GgufValueType.UInt32 => ToInts(key, (uint[])v.Value, x => x),
            GgufValueType.Int64 => ToInts(key, (long[])v.Value, x => x),
            GgufValueType.UInt64 => ToInts(key, (ulong[])v.Value, x => x > long.MaxValue ? long.MaxValue : (long)x),
            _ => throw WrongType(key, v, "an array of integers"),
        };
    }

    private int[] ToInts<T>(string key, T[] items, Func<T, long> widen)
    {
        var r = new int[items.Length];
        for (var j = 0; j < items.Length; j++)
        {
            var x = widen(items[j]);
            if (x is < int.MinValue or > int.MaxValue)
                throw new ModelFormatException(Path, $"metadata '{key}' element {j} is {items[j]}, outside the int32 range.");
            r[j] = (int)x;
        }
        return r;
    }

    private GgufValue? Find(string key) => _metadata.TryGetValue(key, out var v) ? v : null;

    private ModelFormatException WrongType(string key, GgufValue v, string expected) => new(Path,
        $"metadata '{key}' is {(v.ArrayElementType is { } e ? $"an array of {e}" : v.Type.ToString())}, expected {expected}; the file does not follow the GGUF conventions for this key.");

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}
