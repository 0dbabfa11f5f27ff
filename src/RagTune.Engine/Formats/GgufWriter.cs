using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Formats;

/// <summary>
/// Builds a GGUF v3 file: metadata in insertion order (setting a key again replaces it in place), then tensors in
/// the order added, each padded to <c>general.alignment</c> (default 32). <see cref="Write"/> writes to a temporary
/// file beside the target and renames it over the target, so a crash never leaves a half-written model behind.
/// The same inputs always give the same bytes.
/// </summary>
public sealed class GgufWriter
{
    private const uint Version = 3;

    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly Dictionary<string, int> _keyIndex = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Dims, long ByteLength, Action<Stream> WriteData);

    /// <summary>Metadata keys in the order they will be written.</summary>
    public IReadOnlyList<string> MetadataKeys => _metadata.ConvertAll(kv => kv.Key);

    /// <summary>Number of tensors added so far.</summary>
    public int TensorCount => _tensors.Count;

    /// <summary>Alignment of tensor data: <c>general.alignment</c> when set, else 32.</summary>
    public int Alignment => _keyIndex.TryGetValue(GgufFile.AlignmentKey, out var i) ? (int)(uint)_metadata[i].Value.Value : GgufFile.DefaultAlignment;

    /// <summary>Sets a metadata value; a key set before keeps its position.</summary>
    public void Set(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key == GgufFile.AlignmentKey && (value.Value is not uint a || a == 0 || a > 1u << 30 || !BitOperations.IsPow2(a)))
            throw new ArgumentException($"'{GgufFile.AlignmentKey}' must be a UInt32 power of two, got {value} ({value.Type}).", nameof(value));
        if (_keyIndex.TryGetValue(key, out var i))
        {
            _metadata[i] = new(key, value);
        }
        else
        {
            _keyIndex.Add(key, _metadata.Count);
            _metadata.Add(new(key, value));
        }
    }

    /// <summary>Sets a string value (see <see cref="Set"/>).</summary>
    public void SetString(string key, string value) => Set(key, GgufValue.FromString(value));

    /// <summary>Sets a UInt32 value (see <see cref="Set"/>).</summary>
    public void SetUInt32(string key, uint value) => Set(key, GgufValue.FromUInt32(value));
    internal void SetInt32(string key, int value) => Set(key, GgufValue.FromInt32(value));

    /// <summary>Sets a Float32 value (see <see cref="Set"/>).</summary>
    public void SetFloat32(string key, float value) => Set(key, GgufValue.FromFloat32(value));

    /// <summary>Sets a Bool value (see <see cref="Set"/>).</summary>
    public void SetBool(string key, bool value) => Set(key, GgufValue.FromBool(value));
    internal void SetUInt64(string key, ulong value) => Set(key, GgufValue.FromUInt64(value));

    /// <summary>Sets an array of strings (see <see cref="Set"/>).</summary>
    public void SetStringArray(string key, string[] values) => Set(key, GgufValue.FromArray(GgufValueType.String, values));

    /// <summary>Sets an array of Float32 (see <see cref="Set"/>).</summary>
    public void SetFloat32Array(string key, float[] values) => Set(key, GgufValue.FromArray(GgufValueType.Float32, values));

    /// <summary>Sets an array of Int32 (see <see cref="Set"/>).</summary>
    public void SetInt32Array(string key, int[] values) => Set(key, GgufValue.FromArray(GgufValueType.Int32, values));

    /// <summary>Adds a tensor whose bytes are given now (copied). <paramref name="dims"/> is ggml's ne, innermost first.</summary>
    public void AddTensor(string name, GgmlType type, long[] dims, ReadOnlySpan<byte> data)
    {
        var bytes = CheckTensor(name, type, dims);
        if (data.Length != bytes)
            throw new ArgumentException($"Tensor '{name}' ({type} [{string.Join(", ", dims)}]) needs {bytes} bytes of data, got {data.Length}.", nameof(data));
        var copy = data.ToArray();
        Add(name, type, dims, bytes, s => s.Write(copy));
    }

    /// <summary>
    /// Adds a tensor whose bytes <paramref name="writeData"/> streams during <see cref="Write"/> (so huge models need
    /// not be held in memory). The callback must write exactly the tensor's byte length.
    /// </summary>
    public void AddTensor(string name, GgmlType type, long[] dims, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(writeData);
        Add(name, type, dims, CheckTensor(name, type, dims), writeData);
    }

    /// <summary>
    /// A writer holding a copy of <paramref name="source"/>'s metadata (same order) and tensors streamed from its
    /// mapping; <paramref name="source"/> must stay open until <see cref="Write"/> returns.
    /// </summary>
    public static unsafe GgufWriter CopyOf(GgufFile source)
    {
        var w = new GgufWriter();
        foreach (var key in source.MetadataKeys)
            w.Set(key, source.Metadata[key]);
        foreach (var t in source.Tensors)
        {
            var info = t;
            w.AddTensor(t.Name, t.Type, (long[])t.Dims.Clone(), s =>
            {
                var p = source.BasePointer + source.DataOffset + info.Offset;
                for (long done = 0, n = info.ByteLength; done < n;)
                {
                    var chunk = (int)Math.Min(n - done, 1 << 30);
                    s.Write(new ReadOnlySpan<byte>(p + done, chunk));
                    done += chunk;
                }
            });
        }
        return w;
    }

    private void Add(string name, GgmlType type, long[] dims, long bytes, Action<Stream> writeData)
    {
        if (!_tensorNames.Add(name))
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        _tensors.Add(new PendingTensor(name, type, (long[])dims.Clone(), bytes, writeData));
    }

    private static long CheckTensor(string name, GgmlType type, long[] dims)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(dims);
        // llama.cpp keeps names in a 64-byte buffer (GGML_MAX_NAME) and rejects longer ones.
        if (Encoding.UTF8.GetByteCount(name) >= 64)
            throw new ArgumentException($"Tensor name '{name}' is 64 bytes or longer; llama.cpp (GGML_MAX_NAME) cannot load it.", nameof(name));
        if (!GgmlTypes.IsKnown((uint)type))
            throw new ArgumentException($"Tensor '{name}' has unknown type number {(uint)type}.", nameof(type));
        if (dims.Length > GgufFile.MaxDims)
            throw new ArgumentException($"Tensor '{name}' has {dims.Length} dimensions; ggml allows at most {GgufFile.MaxDims}.", nameof(dims));
        if (Array.Exists(dims, d => d < 0))
            throw new ArgumentException($"Tensor '{name}' has a negative dimension: [{string.Join(", ", dims)}].", nameof(dims));
        var traits = GgmlTypes.Traits(type);
        var cols = dims.Length > 0 ? dims[0] : 1;
        if (cols % traits.BlockSize != 0 || cols > int.MaxValue)
            throw new ArgumentException($"Tensor '{name}': ne[0] = {cols} must be a whole number of {traits.BlockSize}-element {traits.Name} blocks and fit in int32.", nameof(dims));
        try
        {
            return new GgufTensorInfo(name, type, dims, 0).ByteLength;
        }
        catch (OverflowException)
        {
            throw new ArgumentException($"Tensor '{name}' [{string.Join(", ", dims)}] is too large.", nameof(dims));
        }
    }

    /// <summary>
    /// Writes the file atomically: to <c>path + ".tmp-&lt;random&gt;"</c>, flushed to disk, then renamed over
    /// <paramref name="path"/>. On any failure the temporary file is deleted and <paramref name="path"/> is untouched.
    /// </summary>
    public void Write(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                WriteTo(fs);
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

    private void WriteTo(FileStream fs)
    {
        var alignment = Alignment;
        using var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true); // BinaryWriter is always little-endian
        w.Write("GGUF"u8);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }

        long offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (var d in t.Dims) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset = GgufFile.AlignUp(offset + t.ByteLength, alignment);
        }
        Pad(w, alignment);

        var data = new CountingStream(fs);
        foreach (var t in _tensors)
        {
            w.Flush();
            data.Count = 0;
            t.WriteData(data);
            if (data.Count != t.ByteLength)
                throw new InvalidOperationException($"The data callback of tensor '{t.Name}' wrote {data.Count} bytes; its {t.Type} [{string.Join(", ", t.Dims)}] shape needs {t.ByteLength}.");
            Pad(w, alignment);
        }
        w.Flush();
    }

    private static void Pad(BinaryWriter w, int alignment)
    {
        var pos = w.BaseStream.Position;
        var pad = GgufFile.AlignUp(pos, alignment) - pos;
        for (var i = 0; i < pad; i++) w.Write((byte)0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    // Writes a value without its type tag; an array is its element type, count and elements.
    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        switch (v.Value)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            case Array items:
                w.Write((uint)v.ArrayElementType!.Value);
                w.Write((ulong)items.Length);
                WriteItems(w, items);
                break;
            default: throw new InvalidOperationException($"Unexpected metadata value {v.Value.GetType()}.");
        }
    }

    // The runtime lets an sbyte[] match byte[] (and short[]/ushort[], int[]/uint[], long[]/ulong[]); the bits written
    // are the same either way, so the first matching case is correct.
    private static void WriteItems(BinaryWriter w, Array items)
    {
        switch (items)
        {
            case byte[] a: w.Write(a); break;
            case sbyte[] a: foreach (var x in a) w.Write(x); break;
            case ushort[] a: foreach (var x in a) w.Write(x); break;
            case short[] a: foreach (var x in a) w.Write(x); break;
            case uint[] a: foreach (var x in a) w.Write(x); break;
            case int[] a: foreach (var x in a) w.Write(x); break;
            case float[] a: foreach (var x in a) w.Write(x); break;
            case bool[] a: foreach (var x in a) w.Write((byte)(x ? 1 : 0)); break;
            case string[] a: foreach (var x in a) WriteString(w, x); break;
            case ulong[] a: foreach (var x in a) w.Write(x); break;
            case long[] a: foreach (var x in a) w.Write(x); break;
            case double[] a: foreach (var x in a) w.Write(x); break;
            case GgufValue[] a: foreach (var x in a) WriteValue(w, x); break;
            default: throw new InvalidOperationException($"Unexpected metadata array {items.GetType()}.");
        }
    }

    /// <summary>Forwards writes to the file and counts them; callbacks can neither seek nor close the file.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Count += buffer.Length;
        }

        public override void WriteByte(byte value)
        {
            inner.WriteByte(value);
            Count++;
        }
    }
}
