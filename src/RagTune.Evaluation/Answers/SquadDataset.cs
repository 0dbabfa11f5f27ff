using System.Text.Json;
using RagTune.Evaluation.Retrieval;

namespace RagTune.Evaluation.Answers;

/// <summary>A SQuAD paragraph: <see cref="Id"/> is "&lt;article title&gt;#&lt;paragraph index&gt;".</summary>
public sealed record SquadParagraph(string Id, string Title, string Context);

/// <summary>A SQuAD question with its gold paragraph and accepted answers.</summary>
public sealed record SquadQuestion(string Id, string Question, string ParagraphId, IReadOnlyList<string> Answers);

/// <summary>SQuAD v1.1 (https://rajpurkar.github.io/SQuAD-explorer/): paragraphs and their questions.</summary>
public sealed record SquadDataset(IReadOnlyList<SquadParagraph> Paragraphs, IReadOnlyList<SquadQuestion> Questions)
{
    /// <summary>Reads a SQuAD v1.1 JSON file.</summary>
    public static SquadDataset Load(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new DatasetFormatException($"{path}: not valid JSON ({e.Message}).");
        }
        using (doc)
        {
            if (!doc.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw new DatasetFormatException($"{path}: expected a SQuAD file with a top-level \"data\" array.");
            var paragraphs = new List<SquadParagraph>();
            var questions = new List<SquadQuestion>();
            int a = 0;
            foreach (var article in data.EnumerateArray())
            {
                string title = article.TryGetProperty("title", out var t) ? t.GetString() ?? "" : "";
                int p = 0;
                if (!article.TryGetProperty("paragraphs", out var paras))
                    throw new DatasetFormatException($"{path}: article {a} ('{title}') has no \"paragraphs\".");
                foreach (var para in paras.EnumerateArray())
                {
                    var id = $"{title}#{p++}";
                    var context = para.GetProperty("context").GetString() ?? "";
                    paragraphs.Add(new SquadParagraph(id, title.Replace('_', ' '), context));
                    foreach (var qa in para.GetProperty("qas").EnumerateArray())
                    {
                        var answers = qa.GetProperty("answers").EnumerateArray().Select(x => x.GetProperty("text").GetString() ?? "").ToList();
                        questions.Add(new SquadQuestion(qa.GetProperty("id").GetString() ?? "", qa.GetProperty("question").GetString() ?? "", id, answers));
                    }
                }
                a++;
            }
            return new SquadDataset(paragraphs, questions);
        }
    }
}
