using RagTune.Rag.Answering;
using RagTune.Rag.Chunking;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Store;
using RagTune.Rag.Tests.Fakes;
using RagTune.TestKit;
using L = RagTune.TestKit.GhostscriptPdf.TextLine;

namespace RagTune.Rag.Tests.Ingestion;

/// <summary>A fact that runs when Ghostscript's ps2pdf is installed (CI installs it) to make the test's PDFs.</summary>
public sealed class GhostscriptFactAttribute : FactAttribute
{
    public GhostscriptFactAttribute() => Skip = GhostscriptPdf.SkipReason;
}

/// <summary>The PDF reader (PdfPig) on PDFs rendered by Ghostscript from PostScript written here.</summary>
public sealed class PdfTextReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    private static readonly string[] s_left =
    [
        "Hybrid retrieval fuses keyword and dense ranks",
        "so rare names and paraphrases are both found",
        "before the reranker orders the best few.",
    ];

    private static readonly string[] s_right =
    [
        "Fine tuning changes the weights of the model",
        "which helps style and format far more than",
        "it helps the model learn new facts reliably.",
    ];

    // Two columns on the same baselines, as a journal page sets them: a reader that goes line by line across the
    // page interleaves them.
    private static L[] TwoColumnPage() =>
    [
        new(72, 740, "Two Column Study"),
        .. s_left.Select((t, i) => new L(72, 700 - 14 * i, t)),
        .. s_right.Select((t, i) => new L(320, 700 - 14 * i, t)),
    ];

    private string Pdf(string name, string postScript, params string[] options)
    {
        var path = Path.Combine(_dir.Path, name);
        GhostscriptPdf.Write(postScript, path, options);
        return path;
    }

    [GhostscriptFact]
    public void A_two_column_page_reads_column_by_column_and_chunks_know_their_pages()
    {
        var path = Pdf("study.pdf", GhostscriptPdf.TextPages(TwoColumnPage(),
            [new(72, 700, "The second page says that citations are checked against their sources.")]));
        var doc = Assert.Single(DocumentReaders.Read(path, ReaderOptions.Default, "study.pdf"));
        Assert.Equal("pdf", doc.Metadata["ext"]);
        Assert.Equal("2", doc.Metadata[PdfPages.CountKey]);
        foreach (var line in s_left.Concat(s_right)) Assert.Contains(line, doc.Text);
        // Column order: every left line before every right line, each line whole.
        Assert.True(doc.Text.IndexOf(s_left[^1], StringComparison.Ordinal) < doc.Text.IndexOf(s_right[0], StringComparison.Ordinal), doc.Text);
        Assert.True(doc.Text.IndexOf("Two Column Study", StringComparison.Ordinal) < doc.Text.IndexOf(s_left[0], StringComparison.Ordinal), doc.Text);
        var second = doc.Text.IndexOf("The second page", StringComparison.Ordinal);
        Assert.True(second > doc.Text.IndexOf(s_right[^1], StringComparison.Ordinal), doc.Text);

        Assert.Equal((1, 1), PdfPages.Of(doc.Metadata, 0, 10));
        Assert.Equal((2, 2), PdfPages.Of(doc.Metadata, second, doc.Text.Length));
        Assert.Equal((1, 2), PdfPages.Of(doc.Metadata, 0, doc.Text.Length));
        Assert.Equal("pp. 1–2", PdfPages.Label(doc.Metadata, 0, doc.Text.Length));
        Assert.Null(PdfPages.Label(new Dictionary<string, string> { ["ext"] = "md" }, 0, 5));

        // Small chunks: the one on page 2 says so, as does the numbered source an answer cites.
        var chunks = new Chunker(new ChunkerOptions { ChunkTokens = 16, OverlapTokens = 0 }).Split(doc);
        var last = new StoredChunk(7, doc.Id, doc.Source, doc.Title, chunks[^1], doc.Metadata);
        Assert.Equal("p. 2", last.Pages);
        Assert.Equal("p. 1", new StoredChunk(1, doc.Id, doc.Source, doc.Title, chunks[0], doc.Metadata).Pages);
        var source = AnswerSource.From(1, new SearchHit(last, 1, 1, "bm25"));
        Assert.Equal("p. 2", source.Pages);
        var prompt = GroundedPrompt.Build("What is checked?", [source], 4000)[1].Text;
        Assert.Contains("pages=\"p. 2\"", prompt);
    }

    [GhostscriptFact]
    public void A_table_is_read_row_by_row()
    {
        string[][] rows = [["Model", "Params", "Score"], ["base", "135M", "41.5"], ["tuned", "135M", "57.0"], ["rag", "360M", "63.2"]];
        var page = rows.SelectMany((r, i) => r.Select((cell, j) => new L(72 + 150 * j, 700 - 16 * i, cell))).ToArray();
        var doc = Assert.Single(DocumentReaders.Read(Pdf("table.pdf", GhostscriptPdf.TextPages(page)), ReaderOptions.Default));
        foreach (var r in rows) Assert.Contains(string.Join(" | ", r), doc.Text);
    }

    [GhostscriptFact]
    public async Task Encrypted_scanned_and_corrupt_pdfs_fail_one_line_each_while_the_rest_of_the_batch_ingests()
    {
        var docs = Path.Combine(_dir.Path, "docs");
        Directory.CreateDirectory(docs);
        Pdf("docs/good.pdf", GhostscriptPdf.TextPages(new L[] { new(72, 700, "Penguins are birds that cannot fly.") }));
        Pdf("docs/locked.pdf", GhostscriptPdf.TextPages(new L[] { new(72, 700, "Secret text.") }), "-sOwnerPassword=owner", "-sUserPassword=user");
        Pdf("docs/scan.pdf", GhostscriptPdf.ImageOnlyPage());
        File.WriteAllText(Path.Combine(docs, "broken.pdf"), "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> garbage without an end");
        var truncated = File.ReadAllBytes(Path.Combine(docs, "good.pdf"));
        File.WriteAllBytes(Path.Combine(docs, "truncated.pdf"), truncated[..(truncated.Length / 3)]);
        File.WriteAllText(Path.Combine(docs, "notes.md"), "# Notes\n\nPenguins swim in cold seas.");

        var locked = Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(Path.Combine(docs, "locked.pdf"), ReaderOptions.Default));
        Assert.Contains("encrypted", locked.Reason);
        var scan = Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(Path.Combine(docs, "scan.pdf"), ReaderOptions.Default));
        Assert.Contains("no text layer", scan.Reason);
        Assert.Contains("OCR", scan.Reason);

        using var store = new InMemoryChunkStore();
        var summary = await new IngestPipeline(store, null, new IngestOptions { BaseDirectory = docs }).RunAsync([docs], null, CancellationToken.None);
        Assert.Equal(["good.pdf", "notes.md"], store.DocumentIds.Order(StringComparer.Ordinal));
        var failed = summary.Failed.ToDictionary(f => Path.GetFileName(IngestPipeline.SourceFilePath(f.Source)), f => f.Reason);
        Assert.Equal(["broken.pdf", "locked.pdf", "scan.pdf", "truncated.pdf"], failed.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("not a readable PDF", failed["broken.pdf"]);
        Assert.Contains("not a readable PDF", failed["truncated.pdf"]);
        // Short and on one line: no pages of parser output.
        Assert.All(failed.Values, r => Assert.True(r.Length < 240 && !r.Contains('\n'), r));
        var good = Assert.Single(await store.GetAllChunksAsync(), c => c.DocumentId == "good.pdf");
        Assert.Equal("p. 1", good.Pages);
    }

    public void Dispose() => _dir.Dispose();
}
