using System.Text.Json;

namespace RagTune.Evaluation.Experiments;

/// <summary>A questions file with a bad record: every problem with its line, so one run shows what to fix.</summary>
internal sealed class QuestionFileException(string path, IReadOnlyList<string> problems)
    : ArgumentException($"{path}: {problems.Count} problem(s):\n  " + string.Join("\n  ", problems.Take(20)) + (problems.Count > 20 ? $"\n  … and {problems.Count - 20} more" : ""))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// Reads questions JSONL: <c>question</c>, <c>answer</c> (string) or <c>answers</c> (list), and optionally <c>id</c>,
/// <c>fact</c> (groups wordings of one fact), <c>paraphrase_of</c> (the id of the question this rewords; it joins
/// that question's fact), <c>unanswerable</c> (true: no answer exists in the documents) and <c>doc</c> (the
/// document id that holds the answer, for Recall@k).
/// </summary>
internal static class QuestionFile
{
    // "chunk" and "source" (the generating chunk's id and text, written by `ragtune qa generate`) are read past: they are for people auditing a set.
    private static readonly string[] s_fields = ["id", "question", "answer", "answers", "fact", "paraphrase_of", "unanswerable", "doc", "chunk", "source"];

    public static List<ExperimentQuestion> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Questions file '{path}' does not exist.", path);
        var problems = new List<string>();
        var raw = new List<(int Line, string Id, string Text, List<string> Answers, string? Fact, string? ParaphraseOf, bool Unanswerable, string? Doc)>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement e;
            try
            {
                using var doc = JsonDocument.Parse(line);
                e = doc.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                problems.Add($"line {lineNo}: not valid JSON ({ex.Message.Split('.')[0]}); each line must be one object like {{\"question\": \"…\", \"answer\": \"…\"}}");
                continue;
            }
            if (e.ValueKind != JsonValueKind.Object) { problems.Add($"line {lineNo}: expected a JSON object"); continue; }
            foreach (var p in e.EnumerateObject())
                if (!s_fields.Contains(p.Name)) problems.Add($"line {lineNo}: field '{p.Name}' is unknown; the fields are {string.Join(", ", s_fields)}");
            string? Str(string name)
            {
                if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
                if (v.ValueKind == JsonValueKind.String) return v.GetString();
                if (v.ValueKind == JsonValueKind.Number) return v.GetRawText();
                problems.Add($"line {lineNo}: field '{name}' must be a string");
                return null;
            }
            var text = Str("question");
            if (string.IsNullOrWhiteSpace(text)) { problems.Add($"line {lineNo}: field 'question' is missing or empty"); continue; }
            var answers = new List<string>();
            if (Str("answer") is { Length: > 0 } a) answers.Add(a);
            if (e.TryGetProperty("answers", out var arr))
            {
                if (arr.ValueKind != JsonValueKind.Array) problems.Add($"line {lineNo}: field 'answers' must be a list of strings");
                else answers.AddRange(arr.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).Where(x => x.Trim().Length > 0));
            }
            bool unanswerable = e.TryGetProperty("unanswerable", out var u) && u.ValueKind == JsonValueKind.True;
            if (unanswerable && answers.Count > 0) problems.Add($"line {lineNo}: an unanswerable question must have no 'answer'/'answers'");
            if (!unanswerable && answers.Count == 0) problems.Add($"line {lineNo}: the question has no reference answer; add \"answer\": \"…\" (or \"unanswerable\": true)");
            var id = Str("id") ?? $"q{lineNo}";
            raw.Add((lineNo, id, text.Trim(), answers, Str("fact"), Str("paraphrase_of"), unanswerable, Str("doc")));
        }
        var byId = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < raw.Count; i++)
            if (!byId.TryAdd(raw[i].Id, i)) problems.Add($"line {raw[i].Line}: id '{raw[i].Id}' is used twice (also on line {raw[byId[raw[i].Id]].Line})");
        if (raw.Count == 0 && problems.Count == 0) problems.Add("the file holds no questions");

        string FactOf(int i, int depth)
        {
            var q = raw[i];
            if (q.Fact != null) return q.Fact;
            if (q.ParaphraseOf != null && depth < 32 && byId.TryGetValue(q.ParaphraseOf, out var j)) return FactOf(j, depth + 1);
            return q.Id;
        }
        var result = new List<ExperimentQuestion>(raw.Count);
        for (int i = 0; i < raw.Count; i++)
        {
            var q = raw[i];
            if (q.ParaphraseOf != null && !byId.ContainsKey(q.ParaphraseOf))
                problems.Add($"line {q.Line}: paraphrase_of '{q.ParaphraseOf}' names no question id in the file");
            result.Add(new ExperimentQuestion(q.Id, FactOf(i, 0), q.Text, q.Answers, IsParaphrase: q.ParaphraseOf != null, Answerable: !q.Unanswerable, GoldDocumentId: q.Doc));
        }
        if (problems.Count > 0) throw new QuestionFileException(path, problems);
        return result;
    }

    /// <summary>Writes questions in the format <see cref="Read"/> reads (for generated sets).</summary>
    public static void Write(string path, IEnumerable<ExperimentQuestion> questions, IReadOnlyDictionary<string, string>? paraphraseOf = null)
    {
        using var w = new StreamWriter(path);
        foreach (var q in questions)
        {
            var o = new Dictionary<string, object?> { ["id"] = q.Id, ["question"] = q.Text, ["fact"] = q.FactId };
            if (q.Answerable) o["answers"] = q.Answers; else o["unanswerable"] = true;
            if (paraphraseOf != null && paraphraseOf.TryGetValue(q.Id, out var of)) o["paraphrase_of"] = of;
            if (q.GoldDocumentId != null) o["doc"] = q.GoldDocumentId;
            w.WriteLine(JsonSerializer.Serialize(o));
        }
    }
}
