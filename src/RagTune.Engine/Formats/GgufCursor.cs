using System.Text;

namespace RagTune.Engine.Formats;

/// <summary>
/// Bounds-checked little-endian reads over a mapped GGUF file. Every read checks the bytes exist first, and every
/// count (string length, array length, tensor count) is checked against the bytes left before anything is
/// allocated, so a corrupt or hostile file fails fast with a <see cref="ModelFormatException"/> instead of
/// allocating gigabytes, reading out of bounds or hanging.
/// </summary>
internal unsafe struct GgufCursor
{
    // Arrays of arrays recurse; a hostile file could nest deep enough to overflow the stack.
    private const int MaxArrayDepth = 16;

    private readonly byte* _base;
    private readonly long _length;
    private readonly string _path;

    public GgufCursor(byte* data, long length, string path)
    {
        _base = data;
        _length = length;
        _path = path;
    }

    public long Position { get; set; }

    public readonly long Remaining => _length - Position;

    public readonly ModelFormatException Error(string message) => new(_path, message);

    /// <summary>The error for bytes that run past the end of the file while reading <paramref name="what"/>.</summary>
    public readonly ModelFormatException Truncated(string what, long needed) => Error(
        $"the file is truncated: reading {what} at offset {Position} needs {needed} bytes but only {Math.Max(0, Remaining)} remain " +
        $"(file size {_length}). Re-download or re-convert the model.");

    private readonly byte* Take(long bytes, string what)
    {
        if (bytes > Remaining) throw Truncated(what, bytes);
        return _base + Position;
    }

    public uint ReadUInt32(string what)
    {
        var v = *(uint*)Take(4, what);
        Position += 4;
        return v;
    }

    public ulong ReadUInt64(string what)
    {
        var v = *(ulong*)Take(8, what);
        Position += 8;
        return v;
    }

    /// <summary>A GGUF string: uint64 byte length, then UTF-8 bytes (no terminator), decoded in place.</summary>
    public string ReadString(string what, int element = -1)
    {
        var start = Position;
        if (Remaining < 8) throw Truncated($"the length of {Describe(what, element)}", 8);
        var n = *(ulong*)(_base + Position);
        Position += 8;
        if (n > (ulong)Remaining)
        {
            Position = start;
            throw Error($"{Describe(what, element)} at offset {start} claims {n} bytes but only {Remaining - 8} remain in the file; " +
                "the file is truncated or corrupt. Re-download or re-convert the model.");
        }
        if (n > int.MaxValue)
            throw Error($"{Describe(what, element)} at offset {start} is {n} bytes long, more than a string can hold; the file is corrupt.");
        var s = n == 0 ? "" : Encoding.UTF8.GetString(_base + Position, (int)n);
        Position += (long)n;
        return s;
    }

    /// <summary>Reads a value type tag and checks it is one the specification defines.</summary>
    public GgufValueType ReadValueType(string what)
    {
        var at = Position;
        var raw = ReadUInt32($"the value type of {what}");
        if (raw > (uint)GgufValueType.Float64)
            throw Error($"{what} at offset {at} has value type {raw}, which GGUF does not define (0..12); the file is corrupt or from a newer GGUF revision.");
        return (GgufValueType)raw;
    }

    /// <summary>Reads one metadata value of type <paramref name="type"/> (the type tag already consumed).</summary>
    public GgufValue ReadValue(GgufValueType type, string what, int depth = 0)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return GgufValue.FromUInt8(Read<byte>(what));
            case GgufValueType.Int8: return GgufValue.FromInt8(Read<sbyte>(what));
            case GgufValueType.UInt16: return GgufValue.FromUInt16(Read<ushort>(what));
            case GgufValueType.Int16: return GgufValue.FromInt16(Read<short>(what));
            case GgufValueType.UInt32: return GgufValue.FromUInt32(Read<uint>(what));
            case GgufValueType.Int32: return GgufValue.FromInt32(Read<int>(what));
            case GgufValueType.Float32: return GgufValue.FromFloat32(Read<float>(what));
            case GgufValueType.Bool: return GgufValue.FromBool(Read<byte>(what) != 0);
            case GgufValueType.String: return GgufValue.FromString(ReadString(what));
            case GgufValueType.UInt64: return GgufValue.FromUInt64(Read<ulong>(what));
            case GgufValueType.Int64: return GgufValue.FromInt64(Read<long>(what));
            case GgufValueType.Float64: return GgufValue.FromFloat64(Read<double>(what));
            case GgufValueType.Array: return ReadArray(what, depth);
            default: throw Error($"{what} has value type {(uint)type}, which GGUF does not define.");
        }
    }

    // Element descriptions are only formatted on the error path: a vocabulary holds 150k strings.
    private static string Describe(string what, int element) => element < 0 ? what : $"element {element} of {what}";

    private T Read<T>(string what) where T : unmanaged
    {
        var v = *(T*)Take(sizeof(T), what);
        Position += sizeof(T);
        return v;
    }

    private GgufValue ReadArray(string what, int depth)
    {
        if (depth >= MaxArrayDepth)
            throw Error($"{what} at offset {Position} nests arrays more than {MaxArrayDepth} deep; the file is corrupt.");
        var elementType = ReadValueType($"the elements of {what}");
        var at = Position;
        var count = ReadUInt64($"the element count of {what}");
        // Smallest encoding of one element: a fixed-size value, an empty string (8) or an empty array (4 + 8).
        var minSize = elementType switch
        {
            GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => GgufValue.FixedSize(elementType),
        };
        if (count > (ulong)(Remaining / minSize))
        {
            throw Error($"{what} at offset {at} claims {count} elements of {elementType} ({minSize}+ bytes each) " +
                $"but only {Remaining} bytes remain; the file is truncated or corrupt. Re-download or re-convert the model.");
        }
        if (count > (ulong)Array.MaxLength)
            throw Error($"{what} at offset {at} has {count} elements, more than an array can hold.");
        var n = (int)count;
        Array items = elementType switch
        {
            GgufValueType.UInt8 => ReadFixed<byte>(n),
            GgufValueType.Int8 => ReadFixed<sbyte>(n),
            GgufValueType.UInt16 => ReadFixed<ushort>(n),
            GgufValueType.Int16 => ReadFixed<short>(n),
            GgufValueType.UInt32 => ReadFixed<uint>(n),
            GgufValueType.Int32 => ReadFixed<int>(n),
            GgufValueType.Float32 => ReadFixed<float>(n),
            GgufValueType.UInt64 => ReadFixed<ulong>(n),
            GgufValueType.Int64 => ReadFixed<long>(n),
            GgufValueType.Float64 => ReadFixed<double>(n),
            GgufValueType.Bool => ReadBools(n),
            GgufValueType.String => ReadStrings(n, what),
            _ => ReadNested(n, what, depth),
        };
        return GgufValue.FromArray(elementType, items);
    }

    // The count was checked against the bytes left, so these cannot run past the end of the file.
    private T[] ReadFixed<T>(int n) where T : unmanaged
    {
        var items = new ReadOnlySpan<T>(_base + Position, n).ToArray();
        Position += (long)n * sizeof(T);
        return items;
    }

    private bool[] ReadBools(int n)
    {
        var items = new bool[n];
        var p = _base + Position;
        for (var i = 0; i < n; i++) items[i] = p[i] != 0;
        Position += n;
        return items;
    }

    private string[] ReadStrings(int n, string what)
    {
        var items = new string[n];
        for (var i = 0; i < n; i++) items[i] = ReadString(what, i);
        return items;
    }

    private GgufValue[] ReadNested(int n, string what, int depth)
    {
        var items = new GgufValue[n];
        for (var i = 0; i < n; i++) items[i] = ReadArray(depth == 0 ? $"element {i} of {what}" : what, depth + 1);
        return items;
    }
}
