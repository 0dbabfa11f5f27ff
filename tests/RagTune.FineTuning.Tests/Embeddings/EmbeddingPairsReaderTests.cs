using RagTune.FineTuning.Datasets;
using RagTune.FineTuning.Embeddings;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Embeddings;

public sealed class EmbeddingPairsReaderTests
{
    [Fact]
    public void Reads_pairs_with_string_or_array_negatives_and_skips_blank_lines()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "pairs.jsonl");
        File.WriteAllLines(path,
        [
            """{"query": "what is rag", "positive": "Retrieval-augmented generation ..."}""",
            "",
            """{"query": "q2", "positive": "p2", "negative": "n2"}""",
            """{"query": "q3", "positive": "p3", "negative": ["n3a", "n3b"]}""",
        ]);
        var pairs = EmbeddingPairsReader.Read(path);
        Assert.Equal(3, pairs.Count);
        Assert.Equal("what is rag", pairs[0].Query);
        Assert.Empty(pairs[0].Negatives);
        Assert.Equal(["n2"], pairs[1].Negatives);
        Assert.Equal(["n3a", "n3b"], pairs[2].Negatives);
        Assert.Equal(4, pairs[2].Line);
    }

    [Fact]
    public void Bad_lines_are_reported_with_file_and_line_numbers()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "bad.jsonl");
        File.WriteAllLines(path,
        [
            """{"query": "ok", "positive": "fine"}""",
            """{"query": "no positive"}""",
            """not json""",
            """{"query": "q", "positive": 3}""",
            """{"query": "q", "positive": "p", "negative": [1]}""",
            """["an", "array"]""",
            """{"query": "  ", "positive": "p"}""",
        ]);
        var e = Assert.Throws<DatasetFormatException>(() => EmbeddingPairsReader.Read(path));
        Assert.Equal([2, 3, 4, 5, 6, 7], e.Issues.Select(i => i.Line));
        Assert.Contains($"{path}:2: field \"positive\" is missing", e.Message);
        Assert.Contains($"{path}:3: not valid JSON", e.Message);
        Assert.Contains("field \"positive\" must be a string, not number", e.Message);
        Assert.Contains("field \"negative\" must be", e.Message);
        Assert.Contains("field \"query\" is empty", e.Message);
    }

    [Fact]
    public void Empty_and_missing_files_are_refused()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "empty.jsonl");
        File.WriteAllText(path, "\n\n");
        Assert.Contains("holds no pairs", Assert.Throws<DatasetFormatException>(() => EmbeddingPairsReader.Read(path)).Message);
        Assert.Throws<FileNotFoundException>(() => EmbeddingPairsReader.Read(Path.Combine(dir.Path, "none.jsonl")));
    }
}
