using System.Text.Json;
using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;

namespace RagTune.Engine.Encoders;

/// <summary>
/// Minimal reader of Hugging Face safetensors files (https://github.com/huggingface/safetensors, format:
/// 8-byte little-endian header length N, N bytes of JSON <c>{name: {dtype, shape, data_offsets: [begin, end]}}</c>
/// with offsets relative to the byte after the header, then the data). The file is memory-mapped; views point into
/// it and nothing is copied. Only F32, F16 and BF16 tensors of rank 1 or 2 are exposed, which is all BERT needs.
/// </summary>
/// <remarks>
/// Private to the encoders until the shared <c>Formats.SafetensorsFile</c> (branch hf-qwen) is merged; then this
/// class should be replaced by it.
/// </remarks>
internal sealed unsafe class SafetensorsReader : IEncoderTensors
{
    private readonly MappedFile _file;
    private readonly Dictionary<string, Entry> _entries;

    private readonly record struct Entry(GgmlType? Type, long[] Shape, long Begin, long End);

    private SafetensorsReader(MappedFile file, Dictionary<string, Entry> entries)
    {
        _file = file;
        _entries = entries;
    }

    /// <summary>Full path of the file.</summary>
    public string Path => _file.Path;

    /// <summary>Names of every tensor in the file.</summary>
    public IReadOnlyCollection<string> Names => _entries.Keys;

    /// <summary>Maps and parses <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">The header is malformed or a tensor lies outside the file.</exception>
    public static SafetensorsReader Open(string path)
    {
        var file = MappedFile.Open(path);
        try
        {
            if (file.Length < 8)
                throw new ModelFormatException(file.Path, $"{file.Length} bytes is too short for a safetensors file (8-byte header length, JSON header, data).");
            long n = *(long*)file.Pointer;
            if (n <= 0 || n > file.Length - 8 || n > 100_000_000)
                throw new ModelFormatException(file.Path, $"header length {n} does not fit the file of {file.Length} bytes; the file is truncated or not safetensors.");
            long dataStart = 8 + n, dataLength = file.Length - dataStart;
            var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(new ReadOnlySpan<byte>(file.Pointer + 8, (int)n).ToArray()));
            }
            catch (JsonException e)
            {
                throw new ModelFormatException(file.Path, $"the JSON header is malformed ({e.Message}).", e);
            }
            using (doc)
            {
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (p.Name == "__metadata__") continue;
                    var dtype = p.Value.GetProperty("dtype").GetString();
                    var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                    var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                    GgmlType? type = dtype switch
                    {
                        "F32" => GgmlType.F32,
                        "F16" => GgmlType.F16,
                        "BF16" => GgmlType.BF16,
                        _ => null,
                    };
                    if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                        throw new ModelFormatException(file.Path, $"tensor '{p.Name}' has data_offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes; the file is truncated or corrupt.");
                    long count = shape.Aggregate(1L, (a, b) => a * b);
                    if (type != null && count * (type == GgmlType.F32 ? 4 : 2) != offsets[1] - offsets[0])
                        throw new ModelFormatException(file.Path, $"tensor '{p.Name}' ({dtype} [{string.Join(", ", shape)}]) needs {count * (type == GgmlType.F32 ? 4 : 2)} bytes but data_offsets give {offsets[1] - offsets[0]}.");
                    entries[p.Name] = new Entry(type, shape, dataStart + offsets[0], dataStart + offsets[1]);
                }
            }
            return new SafetensorsReader(file, entries);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The PyTorch shape of <paramref name="name"/>, or null when absent.</summary>
    public long[]? Shape(string name) => _entries.TryGetValue(name, out var e) ? e.Shape : null;

    /// <summary>
    /// A view of <paramref name="name"/> checked against <paramref name="shape"/> (PyTorch order: <c>[out, in]</c> or
    /// <c>[n]</c>); a rank-2 tensor <c>[r, c]</c> becomes Rows = r, Cols = c; a rank-1 tensor is one row.
    /// </summary>
    /// <exception cref="ModelFormatException">The tensor is missing, of another shape, or of an unsupported dtype.</exception>
    public TensorView View(string name, params long[] shape)
    {
        if (!_entries.TryGetValue(name, out var e))
            throw new ModelFormatException(Path, $"tensor '{name}' is missing; the checkpoint is not a BERT model of the expected layout (names like 'encoder.layer.0.attention.self.query.weight').");
        if (e.Type is not { } type)
            throw new ModelFormatException(Path, $"tensor '{name}' has a dtype other than F32, F16 or BF16; convert the checkpoint (e.g. save it with torch_dtype=float16).");
        if (!e.Shape.SequenceEqual(shape))
            throw new ModelFormatException(Path, $"tensor '{name}' has shape [{string.Join(", ", e.Shape)}], expected [{string.Join(", ", shape)}] from config.json; the config and weights do not belong together.");
        long rows = shape.Length == 2 ? shape[0] : 1;
        int cols = checked((int)shape[^1]);
        return new TensorView(_file.Pointer + e.Begin, type, rows, cols);
    }

    public void Dispose() => _file.Dispose();
}
