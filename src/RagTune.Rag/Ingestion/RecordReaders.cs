using System.Buffers;
using System.Globalization;
using System.Text.Json;
using RagTune.Rag.Store;

namespace RagTune.Rag.Ingestion;

/// <summary>
/// JSON (an array of objects, or one object), JSONL (one object per line) and CSV (header row) files: each record
/// becomes one document. Id from <see cref="ReaderOptions.IdField"/> (else "&lt;file id&gt;#&lt;n&gt;"), title from
/// <see cref="ReaderOptions.TitleField"/>, text from <see cref="ReaderOptions.TextField"/> (required), every other
/// scalar field as metadata. Errors name the line (JSONL, CSV) or record number (JSON). JSONL streams: a line longer
/// than <see cref="ReaderOptions.MaxRecordBytes"/> is refused before it is parsed.
/// </summary>
internal static class RecordReaders
{
    /// <summary>Reads the records of <paramref name="path"/>.</summary>
    public static IReadOnlyList<SourceDocument> Read(string path, string fileId, string ext, ReaderOptions options) => ext switch
    {
        ".jsonl" => ReadJsonl(path, fileId, options),
        ".json" => ReadJson(path, fileId, options),
        ".csv" => ReadCsv(path, fileId, options),
        _ => throw new DocumentReadException(path, $"not a record file type: '{ext}'"),
    };

    // JSONL is read in 64 KiB blocks; each line's bytes go to one buffer that grows to at most
    // ReaderOptions.MaxRecordBytes and are parsed in place (no whole-file string, no per-line copies, no clone),
    // so memory is a small multiple of the longest record, not of the file.
    private const int BlockBytes = 64 * 1024;

    private static List<SourceDocument> ReadJsonl(string path, string fileId, ReaderOptions options)
    {
        if (StartsWithUtf16Bom(path)) return ReadJsonlText(path, fileId, options);
        var docs = new List<SourceDocument>();
        var block = ArrayPool<byte>.Shared.Rent(BlockBytes);
        var line = ArrayPool<byte>.Shared.Rent(BlockBytes);
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            int length = 0, lineNo = 1, read;
            while ((read = fs.Read(block, 0, block.Length)) > 0)
            {
                var span = block.AsSpan(0, read);
                while (true)
                {
                    var nl = span.IndexOf((byte)'\n');
                    var part = nl < 0 ? span : span[..nl];
                    if ((long)length + part.Length > options.MaxRecordBytes)
                    {
                        throw new DocumentReadException(path, $"line {lineNo}: the record is longer than {options.MaxRecordBytes} bytes " +
                            "(ReaderOptions.MaxRecordBytes); split it into smaller records, one per line, or raise the limit");
                    }
                    if (length + part.Length > line.Length)
                    {
                        var grown = ArrayPool<byte>.Shared.Rent((int)Math.Min(options.MaxRecordBytes, Math.Max(2L * line.Length, length + part.Length)));
                        line.AsSpan(0, length).CopyTo(grown);
                        ArrayPool<byte>.Shared.Return(line);
                        line = grown;
                    }
                    part.CopyTo(line.AsSpan(length));
                    length += part.Length;
                    if (nl < 0) break;
                    AddJsonLine(line.AsMemory(0, length), lineNo, path, fileId, options, docs);
                    length = 0;
                    lineNo++;
                    span = span[(nl + 1)..];
                }
            }
            AddJsonLine(line.AsMemory(0, length), lineNo, path, fileId, options, docs);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
            ArrayPool<byte>.Shared.Return(line);
        }
        return docs;
    }

    private static void AddJsonLine(ReadOnlyMemory<byte> bytes, int lineNo, string path, string fileId, ReaderOptions options, List<SourceDocument> docs)
    {
        if (lineNo == 1 && bytes.Span.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        if (bytes.Span.IndexOfAnyExcept(" \t\r"u8) < 0) return;
        if (bytes.Span.IndexOf((byte)0) >= 0)
            throw new DocumentReadException(path, $"line {lineNo}: binary content (NUL bytes), not text");
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new DocumentReadException(path, $"line {lineNo}: invalid JSON ({e.Message})", e);
        }
        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new DocumentReadException(path, $"line {lineNo}: expected a JSON object, found {root.ValueKind}");
            docs.Add(FromJson(root, path, fileId, lineNo, $"line {lineNo}", options));
        }
    }

    /// <summary>UTF-16 files (with a byte order mark) are decoded whole, then read line by line.</summary>
    private static List<SourceDocument> ReadJsonlText(string path, string fileId, ReaderOptions options)
    {
        var docs = new List<SourceDocument>();
        var lineNo = 0;
        foreach (var line in DocumentReaders.ReadText(path).Split('\n'))
        {
            lineNo++;
            AddJsonLine(System.Text.Encoding.UTF8.GetBytes(line), lineNo, path, fileId, options, docs);
        }
        return docs;
    }

    private static bool StartsWithUtf16Bom(string path)
    {
        Span<byte> head = stackalloc byte[2];
        using var fs = File.OpenRead(path);
        return fs.ReadAtLeast(head, 2, throwOnEndOfStream: false) == 2 && (head.SequenceEqual((ReadOnlySpan<byte>)[0xFF, 0xFE]) || head.SequenceEqual((ReadOnlySpan<byte>)[0xFE, 0xFF]));
    }

    private static List<SourceDocument> ReadJson(string path, string fileId, ReaderOptions options)
    {
        var jsonOptions = new JsonDocumentOptions { AllowTrailingCommas = true };
        JsonDocument json;
        try
        {
            // Parsed from the file's bytes (a stream skips a UTF-8 BOM); UTF-16 files are decoded first.
            if (StartsWithUtf16Bom(path))
            {
                json = JsonDocument.Parse(DocumentReaders.ReadText(path), jsonOptions);
            }
            else
            {
                using var fs = File.OpenRead(path);
                json = JsonDocument.Parse(fs, jsonOptions);
            }
        }
        catch (JsonException e)
        {
            throw new DocumentReadException(path, $"line {e.LineNumber + 1}: invalid JSON ({e.Message})", e);
        }
        using (json)
        {
            var root = json.RootElement;
            var docs = new List<SourceDocument>();
            if (root.ValueKind == JsonValueKind.Object)
            {
                docs.Add(FromJson(root, path, fileId, 1, "record 1", options));
                return docs;
            }
            if (root.ValueKind != JsonValueKind.Array)
                throw new DocumentReadException(path, $"expected a JSON array of objects or one object, found {root.ValueKind}");
            var n = 0;
            foreach (var item in root.EnumerateArray())
            {
                n++;
                if (item.ValueKind != JsonValueKind.Object)
                    throw new DocumentReadException(path, $"record {n}: expected a JSON object, found {item.ValueKind}");
                docs.Add(FromJson(item, path, fileId, n, $"record {n}", options));
            }
            return docs;
        }
    }

    private static SourceDocument FromJson(JsonElement obj, string path, string fileId, int number, string where, ReaderOptions options)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in obj.EnumerateObject())
        {
            var value = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString(),
                JsonValueKind.Number => p.Value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => null,
            };
            if (value != null) fields[p.Name] = value;
            else if (p.Name == options.TextField)
                throw new DocumentReadException(path, $"{where}: field \"{options.TextField}\" must be a string, found {p.Value.ValueKind}");
        }
        return FromFields(fields, path, fileId, number, where, options);
    }

    private static SourceDocument FromFields(Dictionary<string, string> fields, string path, string fileId, int number, string where, ReaderOptions options)
    {
        if (!fields.TryGetValue(options.TextField, out var text))
            throw new DocumentReadException(path, $"{where}: no text field \"{options.TextField}\" (set ReaderOptions.TextField / --text-field; fields present: {string.Join(", ", fields.Keys)})");
        var id = fields.TryGetValue(options.IdField, out var idValue) && !string.IsNullOrWhiteSpace(idValue) ? idValue.Trim() : $"{fileId}#{number}";
        var title = fields.TryGetValue(options.TitleField, out var t) && !string.IsNullOrWhiteSpace(t) ? t : id;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in fields)
            if (k != options.TextField && k != options.TitleField) meta[k] = v;
        meta["record"] = number.ToString(CultureInfo.InvariantCulture);
        return DocumentReaders.Make(id, $"{path}#{number}", title, text, Path.GetExtension(path).ToLowerInvariant(), meta);
    }

    private static List<SourceDocument> ReadCsv(string path, string fileId, ReaderOptions options)
    {
        var rows = ParseCsv(DocumentReaders.ReadText(path), path);
        if (rows.Count == 0)
            throw new DocumentReadException(path, "empty CSV file (a header row is required)");
        var header = rows[0].Fields;
        if (header.IndexOf(options.TextField) < 0)
            throw new DocumentReadException(path, $"line 1: no column \"{options.TextField}\" in the header (set ReaderOptions.TextField / --text-field; columns: {string.Join(", ", header)})");
        var docs = new List<SourceDocument>();
        foreach (var (line, values) in rows.Skip(1))
        {
            if (values.Count == 1 && values[0].Length == 0) continue;
            if (values.Count != header.Count)
                throw new DocumentReadException(path, $"line {line}: {values.Count} fields, but the header has {header.Count}");
            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < header.Count; i++) fields[header[i]] = values[i];
            docs.Add(FromFields(fields, path, fileId, line, $"line {line}", options));
        }
        return docs;
    }

    /// <summary>RFC 4180 CSV: comma separated, double-quoted fields may hold commas, quotes ("") and newlines. Each row keeps its starting line number.</summary>
    internal static List<(int Line, List<string> Fields)> ParseCsv(string text, string path)
    {
        var rows = new List<(int, List<string>)>();
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        int line = 1, rowLine = 1, i = 0;
        var quoted = false;
        while (i < text.Length)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                    quoted = false;
                    i++;
                    if (i < text.Length && text[i] is not (',' or '\n' or '\r'))
                        throw new DocumentReadException(path, $"line {line}: malformed CSV (text after a closing quote)");
                    continue;
                }
                if (c == '\n') line++;
                field.Append(c);
                i++;
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0:
                    quoted = true;
                    break;
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    break;
                case '\r':
                    break;
                case '\n':
                    fields.Add(field.ToString());
                    field.Clear();
                    rows.Add((rowLine, fields));
                    fields = [];
                    line++;
                    rowLine = line;
                    break;
                default:
                    field.Append(c);
                    break;
            }
            i++;
        }
        if (quoted) throw new DocumentReadException(path, $"line {rowLine}: malformed CSV (unterminated quoted field)");
        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            rows.Add((rowLine, fields));
        }
        return rows;
    }
}
