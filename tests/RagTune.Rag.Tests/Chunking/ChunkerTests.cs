using RagTune.Rag.Chunking;
using RagTune.Rag.Text;

namespace RagTune.Rag.Tests.Chunking;

public sealed class ChunkerTests
{
    private static readonly string[] Words =
    [
        "alpha", "beta", "gamma", "retrieval", "tokenizer", "the", "of", "a", "embedding", "vector", "state-of-the-art",
        "don't", "x", "42", "3.14", "naïve", "東京", "über", "supercalifragilisticexpialidocious", "🙂", "(note)", "e.g.", "end.",
    ];

    private static string RandomDocument(Random rng)
    {
        var sb = new System.Text.StringBuilder();
        var paragraphs = rng.Next(0, 25);
        for (var p = 0; p < paragraphs; p++)
        {
            if (rng.Next(5) == 0) sb.Append(new string('#', rng.Next(1, 7))).Append(' ').Append(Words[rng.Next(Words.Length)]).Append("\n\n");
            var sentences = rng.Next(1, 12);
            for (var s = 0; s < sentences; s++)
            {
                var words = rng.Next(1, rng.Next(4) == 0 ? 400 : 30);
                for (var w = 0; w < words; w++)
                {
                    sb.Append(Words[rng.Next(Words.Length)]);
                    sb.Append(rng.Next(20) switch { 0 => ", ", 1 => "\n", 2 => "  ", 3 => "", _ => " " });
                }
                sb.Append(rng.Next(3) switch { 0 => ". ", 1 => "? ", _ => ".\n" });
            }
            sb.Append(rng.Next(3) == 0 ? "\n\n\n" : "\n\n");
        }
        return TextNormalizer.Normalize(sb.ToString());
    }

    [Fact]
    public void Random_documents_chunk_to_exact_slices_within_budget()
    {
        var rng = new Random(1234);
        for (var iter = 0; iter < 300; iter++)
        {
            var text = RandomDocument(rng);
            var options = new ChunkerOptions { ChunkTokens = rng.Next(8, 300), OverlapTokens = 0 };
            options = options with { OverlapTokens = rng.Next(0, options.ChunkTokens / 2 + 1) };
            var chunks = new Chunker(options).Split(text);
            var covered = new bool[text.Length];
            for (var i = 0; i < chunks.Count; i++)
            {
                var c = chunks[i];
                Assert.Equal(i, c.Index);
                Assert.True(c.Start >= 0 && c.End <= text.Length && c.Start < c.End, $"iter {iter} chunk {i}: bad span {c.Start}..{c.End}");
                Assert.Equal(text[c.Start..c.End], c.Text);
                Assert.Equal(TokenScanner.Count(c.Text), c.TokenCount);
                Assert.False(char.IsWhiteSpace(c.Text[0]) || char.IsWhiteSpace(c.Text[^1]), $"iter {iter} chunk {i} has edge whitespace");
                // A chunk may exceed the budget only when it is a single oversized token.
                Assert.True(c.TokenCount <= options.ChunkTokens || TokenScanner.Scan(c.Text).Count == 1, $"iter {iter} chunk {i}: {c.TokenCount} > {options.ChunkTokens}");
                if (i > 0 && chunks[i - 1].HeadingPath.SequenceEqual(c.HeadingPath)) Assert.True(c.Start > chunks[i - 1].Start);
                for (var k = c.Start; k < c.End; k++) covered[k] = true;
            }
            // Every non-space character of the text is in some chunk.
            for (var k = 0; k < text.Length; k++)
                Assert.True(covered[k] || char.IsWhiteSpace(text[k]), $"iter {iter}: char {k} '{text[k]}' not covered");
        }
    }

    [Fact]
    public void Chunking_is_deterministic()
    {
        var text = RandomDocument(new Random(7));
        var a = new Chunker(new ChunkerOptions { ChunkTokens = 64, OverlapTokens = 8 }).Split(text);
        var b = new Chunker(new ChunkerOptions { ChunkTokens = 64, OverlapTokens = 8 }).Split(text);
        Assert.Equal(a.Select(c => (c.Start, c.End, string.Join("/", c.HeadingPath))), b.Select(c => (c.Start, c.End, string.Join("/", c.HeadingPath))));
    }

    [Fact]
    public void Headings_give_paths_and_heading_only_sections_join_the_next()
    {
        const string text = "Preface text.\n\n# Guide\n\n## Install\n\nRun it.\n\n### Linux\n\nUse apt.\n\n## Use\n\nClick.";
        var chunks = new Chunker(new ChunkerOptions()).Split(text);
        Assert.Equal(4, chunks.Count);
        Assert.Empty(chunks[0].HeadingPath);
        Assert.Equal("# Guide\n\n## Install\n\nRun it.", chunks[1].Text);
        Assert.Equal(["Guide", "Install"], chunks[1].HeadingPath);
        Assert.Equal(["Guide", "Install", "Linux"], chunks[2].HeadingPath);
        Assert.Equal(["Guide", "Use"], chunks[3].HeadingPath);
    }

    [Fact]
    public void Splits_prefer_paragraphs_then_sentences_and_overlap()
    {
        var para = string.Join(" ", Enumerable.Range(0, 10).Select(i => $"Sentence number {i} is here."));
        var text = para + "\n\n" + para;
        var chunks = new Chunker(new ChunkerOptions { ChunkTokens = 70, OverlapTokens = 0 }).Split(text);
        Assert.Equal(2, chunks.Count);
        Assert.Equal(para, chunks[0].Text);
        var small = new Chunker(new ChunkerOptions { ChunkTokens = 20, OverlapTokens = 5 }).Split(para);
        Assert.All(small.Take(small.Count - 1), c => Assert.EndsWith(".", c.Text));
        for (var i = 1; i < small.Count; i++) Assert.True(small[i].Start < small[i - 1].End, "consecutive chunks overlap");
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentException>(() => new Chunker(new ChunkerOptions { ChunkTokens = 4 }));
        Assert.Throws<ArgumentException>(() => new Chunker(new ChunkerOptions { ChunkTokens = 64, OverlapTokens = 40 }));
        Assert.Empty(new Chunker(new ChunkerOptions()).Split(""));
    }
}
