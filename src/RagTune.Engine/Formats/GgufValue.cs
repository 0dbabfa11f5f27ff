using System.Globalization;
using System.Text;

namespace RagTune.Engine.Formats;

/// <summary>Metadata value types, numbered as in the GGUF specification (<c>enum gguf_metadata_value_type</c>).</summary>
internal enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// One GGUF metadata value. <see cref="Value"/> holds the CLR value: <c>string</c>, <c>bool</c>, the number in its
/// own CLR type (<c>uint</c> for UInt32, <c>float</c> for Float32, …), or for arrays a typed CLR array
/// (<c>string[]</c>, <c>float[]</c>, <c>int[]</c>, …; <c>GgufValue[]</c> for arrays of arrays). Immutable.
/// </summary>
public sealed class GgufValue
{
    private GgufValue(GgufValueType type, object value, GgufValueType? elementType)
    {
        Type = type;
        Value = value;
        ArrayElementType = elementType;
    }

    /// <summary>The value's GGUF type.</summary>
    internal GgufValueType Type { get; }

    /// <summary>The CLR value (see the class remarks for the mapping).</summary>
    public object Value { get; }

    /// <summary>For arrays, the type of the elements; null otherwise.</summary>
    internal GgufValueType? ArrayElementType { get; }

    /// <summary>Number of elements of an array value; 0 for scalars.</summary>
    public int ArrayLength => Value is Array a ? a.Length : 0;

    internal static GgufValue FromUInt8(byte v) => new(GgufValueType.UInt8, v, null);
    internal static GgufValue FromInt8(sbyte v) => new(GgufValueType.Int8, v, null);
    internal static GgufValue FromUInt16(ushort v) => new(GgufValueType.UInt16, v, null);
    internal static GgufValue FromInt16(short v) => new(GgufValueType.Int16, v, null);
    internal static GgufValue FromUInt32(uint v) => new(GgufValueType.UInt32, v, null);
    internal static GgufValue FromInt32(int v) => new(GgufValueType.Int32, v, null);
    internal static GgufValue FromFloat32(float v) => new(GgufValueType.Float32, v, null);
    internal static GgufValue FromBool(bool v) => new(GgufValueType.Bool, v, null);
    internal static GgufValue FromString(string v) => new(GgufValueType.String, v ?? throw new ArgumentNullException(nameof(v)), null);
    internal static GgufValue FromUInt64(ulong v) => new(GgufValueType.UInt64, v, null);
    internal static GgufValue FromInt64(long v) => new(GgufValueType.Int64, v, null);
    internal static GgufValue FromFloat64(double v) => new(GgufValueType.Float64, v, null);

    /// <summary>
    /// An array value. <paramref name="items"/> must be the CLR array type of <paramref name="elementType"/>
    /// (<c>byte[]</c> for UInt8, <c>string[]</c> for String, <c>GgufValue[]</c> of array values for Array, …).
    /// The array is kept, not copied; do not change it afterwards.
    /// </summary>
    internal static GgufValue FromArray(GgufValueType elementType, Array items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var expected = ClrArrayType(elementType);
        if (items.GetType() != expected)
            throw new ArgumentException($"A GGUF {elementType} array needs a {expected.Name}, got {items.GetType().Name}.", nameof(items));
        if (items is string[] strings && Array.IndexOf(strings, null) is var i and >= 0)
            throw new ArgumentException($"String array element {i} is null.", nameof(items));
        if (items is GgufValue[] nested)
        {
            for (var j = 0; j < nested.Length; j++)
            {
                if (nested[j] is not { Type: GgufValueType.Array })
                    throw new ArgumentException($"Element {j} of an array of arrays must be an array value.", nameof(items));
            }
        }
        return new GgufValue(GgufValueType.Array, items, elementType);
    }

    /// <summary>The CLR array type that holds a GGUF array of <paramref name="elementType"/>.</summary>
    internal static Type ClrArrayType(GgufValueType elementType) => elementType switch
    {
        GgufValueType.UInt8 => typeof(byte[]),
        GgufValueType.Int8 => typeof(sbyte[]),
        GgufValueType.UInt16 => typeof(ushort[]),
        GgufValueType.Int16 => typeof(short[]),
        GgufValueType.UInt32 => typeof(uint[]),
        GgufValueType.Int32 => typeof(int[]),
        GgufValueType.Float32 => typeof(float[]),
        GgufValueType.Bool => typeof(bool[]),
        GgufValueType.String => typeof(string[]),
        GgufValueType.Array => typeof(GgufValue[]),
        GgufValueType.UInt64 => typeof(ulong[]),
        GgufValueType.Int64 => typeof(long[]),
        GgufValueType.Float64 => typeof(double[]),
        _ => throw new ArgumentOutOfRangeException(nameof(elementType), elementType, "Not a GGUF value type."),
    };

    /// <summary>Bytes one value of a fixed-size type takes in the file; 0 for String and Array.</summary>
    internal static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>True for the eight integer types.</summary>
    internal static bool IsInteger(GgufValueType type) => type is GgufValueType.UInt8 or GgufValueType.Int8
        or GgufValueType.UInt16 or GgufValueType.Int16 or GgufValueType.UInt32 or GgufValueType.Int32
        or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>A short display: scalars as themselves, long strings cut, arrays as <c>[n items: a, b, c, …]</c>.</summary>
    public override string ToString()
    {
        if (Value is not Array items) return Display(Value);
        var sb = new StringBuilder();
        sb.Append('[').Append(items.Length).Append(items.Length == 1 ? " item" : " items");
        var shown = Math.Min(items.Length, 3);
        for (var i = 0; i < shown; i++)
            sb.Append(i == 0 ? ": " : ", ").Append(Display(items.GetValue(i)!));
        if (items.Length > shown) sb.Append(", …");
        return sb.Append(']').ToString();
    }

    private static string Display(object v) => v switch
    {
        string s => Quote(s),
        bool b => b ? "true" : "false",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable n => n.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    private static string Quote(string s)
    {
        const int Max = 60;
        var n = s.Length > Max ? (char.IsHighSurrogate(s[Max - 1]) ? Max - 1 : Max) : s.Length;
        var cut = s[..n];
        var sb = new StringBuilder(cut.Length + 4).Append('"');
        foreach (var c in cut)
        {
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
        if (s.Length > Max) sb.Append('…');
        return sb.ToString();
    }
}
