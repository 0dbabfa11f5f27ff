using System.Text;
using System.Text.Json;

namespace RagTune.FineTuning.Datasets;

/// <summary>
/// Reads a training file (JSON array, JSONL or plain text), detects or checks its format and validates every
/// record. All problems are collected and reported together with their line numbers, so one run shows what to fix.
/// </summary>
internal static class DatasetReader
{
    /// <summary>Reads <paramref name="path"/>; throws <see cref="DatasetFormatException"/> listing every bad record.</summary>
    public static LoadedDataset Read(string path, DatasetFormat format = DatasetFormat.Auto)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Training file '{path}' does not exist. Pass a .json, .jsonl or .txt file with --data.", path);
        var bytes = File.ReadAllBytes(path);
        int start = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        var body = bytes.AsMemory(start);
        bool textFile = HasTextExtension(path);
        if (format == DatasetFormat.Text && (textFile || !LooksLikeJson(body.Span)) || format == DatasetFormat.Auto && textFile)
            return ReadPlainText(path, body.Span);

        var issues = new List<DatasetIssue>();
        var objects = FirstNonSpace(body.Span) == (byte)'[' ? ParseArray(body, issues) : ParseLines(body, issues);
        if (objects.Count == 0 && issues.Count == 0)
            issues.Add(new DatasetIssue(0, "the file holds no examples"));
        if (format == DatasetFormat.Auto && objects.Count > 0)
        {
            format = Detect(objects[0].Element);
            if (format == DatasetFormat.Auto)
            {
                var names = string.Join(", ", objects[0].Element.ValueKind == JsonValueKind.Object ? objects[0].Element.EnumerateObject().Select(p => $"'{p.Name}'") : ["(not an object)"]);
                issues.Add(new DatasetIssue(objects[0].Line,
                    $"cannot tell the format from the fields {names}; expected 'messages' (chat), 'instruction'+'output' (alpaca), 'instruction'+'instances' (seed tasks), 'question'+'answer' (qa) or 'text'. Pass --format ({DatasetFormats.Names})."));
            }
        }
        var records = new List<DatasetRecord>();
        if (format != DatasetFormat.Auto)
            foreach (var (line, element) in objects)
                ReadRecord(format, line, element, records, issues);
        if (issues.Count > 0)
            throw new DatasetFormatException(path, issues);
        return new LoadedDataset(path, format, records);
    }

    private static bool HasTextExtension(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".txt" or ".text" or ".md";

    private static bool LooksLikeJson(ReadOnlySpan<byte> body) => FirstNonSpace(body) is (byte)'{' or (byte)'[';

    private static byte FirstNonSpace(ReadOnlySpan<byte> body)
    {
        foreach (var b in body)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')) return b;
        return 0;
    }

    private static LoadedDataset ReadPlainText(string path, ReadOnlySpan<byte> body)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (DecoderFallbackException e)
        {
            throw new DatasetFormatException(path, [new DatasetIssue(0, $"the file is not valid UTF-8 ({e.Message}); save it as UTF-8")]);
        }
        if (string.IsNullOrWhiteSpace(text))
            throw new DatasetFormatException(path, [new DatasetIssue(0, "the text file is empty")]);
        return new LoadedDataset(path, DatasetFormat.Text, [new DatasetRecord(1, [], text)]);
    }

    /// <summary>JSONL: one object per non-blank line.</summary>
    private static List<(int Line, JsonElement Element)> ParseLines(ReadOnlyMemory<byte> body, List<DatasetIssue> issues)
    {
        var result = new List<(int, JsonElement)>();
        var span = body.Span;
        int line = 0, pos = 0;
        while (pos < span.Length)
        {
            line++;
            int nl = span[pos..].IndexOf((byte)'\n');
            int end = nl < 0 ? span.Length : pos + nl;
            var slice = body[pos..end];
            pos = end + 1;
            if (slice.Span.Trim(" \t\r"u8).IsEmpty) continue;
            try
            {
                using var doc = JsonDocument.Parse(slice);
                result.Add((line, doc.RootElement.Clone()));
            }
            catch (JsonException e)
            {
                issues.Add(new DatasetIssue(line, $"not valid JSON ({FirstSentence(e.Message)}); each line of a .jsonl file must be one JSON object"));
            }
        }
        return result;
    }

    /// <summary>A JSON array of objects; each element's line is found from its byte offset.</summary>
    private static List<(int Line, JsonElement Element)> ParseArray(ReadOnlyMemory<byte> body, List<DatasetIssue> issues)
    {
        var result = new List<(int, JsonElement)>();
        var span = body.Span;
        var reader = new Utf8JsonReader(span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        int line = 1;
        long counted = 0;
        int LineAt(long offset)
        {
            line += body.Span[(int)counted..(int)offset].Count((byte)'\n');
            counted = offset;
            return line;
        }
        try
        {
            reader.Read(); // [
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                int at = LineAt(reader.TokenStartIndex);
                var element = JsonElement.ParseValue(ref reader);
                result.Add((at, element));
            }
            if (reader.TokenType != JsonTokenType.EndArray)
                issues.Add(new DatasetIssue(LineAt(span.Length), "the JSON array is not closed with ']'"));
        }
        catch (JsonException e)
        {
            issues.Add(new DatasetIssue((int)(e.LineNumber ?? 0) + 1, $"not valid JSON ({FirstSentence(e.Message)})"));
        }
        return result;
    }

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(". ", StringComparison.Ordinal);
        return (i > 0 ? message[..i] : message).TrimEnd('.');
    }

    /// <summary>The format implied by an object's fields, or <see cref="DatasetFormat.Auto"/> when none fits.</summary>
    public static DatasetFormat Detect(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) return DatasetFormat.Auto;
        bool Has(string name) => e.TryGetProperty(name, out _);
        if (Has("messages")) return DatasetFormat.Chat;
        if (Has("instruction") && Has("instances")) return DatasetFormat.AlpacaInstances;
        if (Has("instruction")) return DatasetFormat.Alpaca;
        if (Has("question")) return DatasetFormat.Qa;
        if (Has("text")) return DatasetFormat.Text;
        return DatasetFormat.Auto;
    }

    private static void ReadRecord(DatasetFormat format, int line, JsonElement e, List<DatasetRecord> records, List<DatasetIssue> issues)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            issues.Add(new DatasetIssue(line, $"expected a JSON object, found {e.ValueKind.ToString().ToLowerInvariant()}"));
            return;
        }
        int before = issues.Count;
        string? Field(JsonElement obj, string name, bool required, bool nonEmpty, string where = "")
        {
            if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                if (required) issues.Add(new DatasetIssue(line, $"missing field '{name}'{where}"));
                return required ? null : "";
            }
            if (v.ValueKind != JsonValueKind.String)
            {
                issues.Add(new DatasetIssue(line, $"field '{name}'{where} must be a string, found {v.ValueKind.ToString().ToLowerInvariant()}"));
                return null;
            }
            var s = v.GetString()!;
            if (nonEmpty && string.IsNullOrWhiteSpace(s))
            {
                issues.Add(new DatasetIssue(line, $"field '{name}'{where} is empty"));
                return null;
            }
            return s;
        }

        switch (format)
        {
            case DatasetFormat.Alpaca:
            {
                var instruction = Field(e, "instruction", true, true);
                var input = Field(e, "input", false, false);
                var output = Field(e, "output", true, true);
                if (issues.Count == before)
                    records.Add(new DatasetRecord(line, [new(TurnRole.User, AlpacaPrompt(instruction!, input!)), new(TurnRole.Assistant, output!)]));
                break;
            }
            case DatasetFormat.AlpacaInstances:
            {
                var instruction = Field(e, "instruction", true, true);
                if (!e.TryGetProperty("instances", out var inst) || inst.ValueKind != JsonValueKind.Array || inst.GetArrayLength() == 0)
                {
                    issues.Add(new DatasetIssue(line, "field 'instances' must be a non-empty array of {\"input\", \"output\"} objects"));
                    break;
                }
                int i = 0;
                foreach (var instance in inst.EnumerateArray())
                {
                    var where = $" in instances[{i++}]";
                    if (instance.ValueKind != JsonValueKind.Object)
                    {
                        issues.Add(new DatasetIssue(line, $"instances[{i - 1}] must be an object"));
                        continue;
                    }
                    var input = Field(instance, "input", false, false, where);
                    var output = Field(instance, "output", true, true, where);
                    if (instruction != null && input != null && output != null)
                        records.Add(new DatasetRecord(line, [new(TurnRole.User, AlpacaPrompt(instruction, input)), new(TurnRole.Assistant, output)]));
                }
                break;
            }
            case DatasetFormat.Qa:
            {
                var question = Field(e, "question", true, true);
                var answer = Field(e, "answer", true, true);
                var context = Field(e, "context", false, false);
                if (issues.Count == before)
                    records.Add(new DatasetRecord(line, [new(TurnRole.User, QaPrompt(question!, context!)), new(TurnRole.Assistant, answer!)]));
                break;
            }
            case DatasetFormat.Text:
            {
                var text = Field(e, "text", true, true);
                if (text != null) records.Add(new DatasetRecord(line, [], text));
                break;
            }
            case DatasetFormat.Chat:
                ReadChat(line, e, records, issues);
                break;
        }
    }

    private static void ReadChat(int line, JsonElement e, List<DatasetRecord> records, List<DatasetIssue> issues)
    {
        if (!e.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
        {
            issues.Add(new DatasetIssue(line, "field 'messages' must be a non-empty array of {\"role\", \"content\"} objects"));
            return;
        }
        var turns = new List<ChatTurn>();
        int i = 0, before = issues.Count;
        foreach (var m in messages.EnumerateArray())
        {
            int index = i++;
            if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("role", out var roleValue) || roleValue.ValueKind != JsonValueKind.String)
            {
                issues.Add(new DatasetIssue(line, $"messages[{index}] needs a string 'role'"));
                continue;
            }
            TurnRole? role = roleValue.GetString() switch
            {
                "system" or "developer" => TurnRole.System,
                "user" => TurnRole.User,
                "assistant" => TurnRole.Assistant,
                _ => null,
            };
            if (role == null)
            {
                issues.Add(new DatasetIssue(line, $"messages[{index}] has role '{roleValue.GetString()}'; use system, user or assistant"));
                continue;
            }
            var content = ContentText(m);
            if (content == null)
            {
                issues.Add(new DatasetIssue(line, $"messages[{index}] needs 'content' as a string or an array of text parts"));
                continue;
            }
            if (role == TurnRole.Assistant && string.IsNullOrWhiteSpace(content))
            {
                issues.Add(new DatasetIssue(line, $"messages[{index}] is an empty assistant answer"));
                continue;
            }
            turns.Add(new ChatTurn(role.Value, content));
        }
        if (issues.Count > before) return;
        if (!turns.Any(t => t.Role == TurnRole.Assistant))
            issues.Add(new DatasetIssue(line, "the conversation has no assistant message, so there is nothing to learn"));
        else if (turns[^1].Role != TurnRole.Assistant)
            issues.Add(new DatasetIssue(line, "the conversation must end with an assistant message"));
        else
            records.Add(new DatasetRecord(line, turns));
    }

    private static string? ContentText(JsonElement message)
    {
        if (!message.TryGetProperty("content", out var c)) return null;
        if (c.ValueKind == JsonValueKind.String) return c.GetString();
        if (c.ValueKind != JsonValueKind.Array) return null;
        var sb = new StringBuilder();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                return null;
            sb.Append(t.GetString());
        }
        return sb.ToString();
    }

    /// <summary>The user message of an Alpaca example: the instruction, then the input after a blank line when present.</summary>
    public static string AlpacaPrompt(string instruction, string input) =>
        string.IsNullOrWhiteSpace(input) ? instruction.Trim() : $"{instruction.Trim()}\n\n{input.Trim()}";

    /// <summary>The user message of a QA example: the context (when present) before the question.</summary>
    public static string QaPrompt(string question, string context) =>
        string.IsNullOrWhiteSpace(context) ? question.Trim() : $"Context:\n{context.Trim()}\n\nQuestion: {question.Trim()}";
}
