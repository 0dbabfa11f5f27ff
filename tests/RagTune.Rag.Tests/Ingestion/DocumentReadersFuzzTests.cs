using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using RagTune.Rag.Chunking;
using RagTune.Rag.Ingestion;
using RagTune.TestKit;
using RagTune.TestKit.Fuzzing;
using W = DocumentFormat.OpenXml.Wordprocessing;

namespace RagTune.Rag.Tests.Ingestion;

/// <summary>
/// Seeded mutants of the document formats ingest reads (HTML, Markdown, DOCX, PDF): each is read and chunked, or
/// refused with <see cref="DocumentReadException"/> naming the file, within 64 MiB of allocation per input (so a
/// claimed size is never believed). Counts are in docs/reliability.md.
/// </summary>
public sealed class DocumentReadersFuzzTests
{
    private static readonly Chunker s_chunker = new(new ChunkerOptions());

    private static void ReadAndChunk(string path)
    {
        foreach (var doc in DocumentReaders.Read(path, ReaderOptions.Default, Path.GetFileName(path)))
            _ = s_chunker.Split(doc);
    }

    private const string Html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Release &amp; Notes</title>
        <style>body { color: red } /* </p> */</style><script>var s = "<h1>not a heading</h1>";</script></head>
        <body><!-- a comment with <b>tags</b> --><h1>Version 2.1</h1>
        <p>Fixes a <em>crash</em> on start&nbsp;up &#8212; see <a href="https://example.com/?a=1&b=2">the issue</a>.</p>
        <h2>Tables</h2><table><tr><th>name</th><th>value</th></tr><tr><td>limit</td><td>10 &lt; 20</td></tr></table>
        <ul><li>one<ul><li>nested</li></ul></li><li>two</li></ul><pre>code   keeps   spaces</pre>
        <p>Ünïcödé, 日本語 and 🙂.</p></body></html>
        """;

    private const string Markdown = """
        # Guide

        Intro with **bold**, _italic_, `code` and a [link](http://x "title").

        ## Install

        1. Download
        2. Run `setup --all`

        ```bash
        # not a heading
        echo done
        ```

        > A quote
        > over two lines

        | a | b |
        |---|---|
        | 1 | 2 |

        ### Deep <b>html</b> heading
        Text after.
        """;

    [Fact]
    public void Mutated_html_reads_or_is_refused_by_name()
    {
        using var dir = new TempDir();
        var valid = System.Text.Encoding.UTF8.GetBytes(Html);
        var path = dir.File("notes.html");
        File.WriteAllBytes(path, valid);
        ReadAndChunk(path);
        var opened = FuzzRun.Run<DocumentReadException>(path, seed: 40, count: 1500, r => Mutants.Text(r, valid), ReadAndChunk);
        Console.WriteLine($"html: {opened} of 1500 read");
    }

    [Fact]
    public void Mutated_markdown_reads_or_is_refused_by_name()
    {
        using var dir = new TempDir();
        var valid = System.Text.Encoding.UTF8.GetBytes(Markdown);
        var path = dir.File("guide.md");
        File.WriteAllBytes(path, valid);
        ReadAndChunk(path);
        FuzzRun.Run<DocumentReadException>(path, seed: 41, count: 1500, r => Mutants.Text(r, valid), ReadAndChunk);
    }

    [Fact]
    public void Mutated_docx_reads_or_is_refused_by_name()
    {
        using var dir = new TempDir();
        var path = dir.File("report.docx");
        using (var word = WordprocessingDocument.Create(path, WordprocessingDocumentType.Document))
        {
            var main = word.AddMainDocumentPart();
            main.Document = new W.Document(new W.Body(
                Para("Quarterly Report", "Heading1"), Para("Revenue grew by ten percent.", null),
                Para("Costs", "Heading2"), Para("Costs fell in every region but one.", null)));
            main.Document.Save();
        }
        var valid = File.ReadAllBytes(path);
        ReadAndChunk(path);
        // The whole file is the region: a ZIP's local headers lead and its central directory trails.
        var opened = FuzzRun.Run<DocumentReadException>(path, seed: 42, count: 1000, r => Mutants.Binary(r, valid, valid.Length), ReadAndChunk);
        Assert.InRange(opened, 1, 999); // the mutants reach both outcomes
        Console.WriteLine($"docx: {opened} of 1000 read");
    }

    [GhostscriptFact]
    public void Mutated_pdf_reads_or_is_refused_by_name()
    {
        using var dir = new TempDir();
        var path = dir.File("study.pdf");
        GhostscriptPdf.Write(GhostscriptPdf.TextPages(
            [new(72, 740, "Two Column Study"), new(72, 700, "Hybrid retrieval fuses keyword and dense ranks.")],
            [new(72, 700, "The second page says that citations are checked.")]), path);
        var valid = File.ReadAllBytes(path);
        ReadAndChunk(path);
        var opened = FuzzRun.Run<DocumentReadException>(path, seed: 43, count: 500, r => Mutants.Binary(r, valid, valid.Length), ReadAndChunk);
        Assert.InRange(opened, 1, 499);
        Console.WriteLine($"pdf: {opened} of 500 read");
    }

    private static W.Paragraph Para(string text, string? style)
    {
        var p = new W.Paragraph(new W.Run(new W.Text(text)));
        if (style != null) p.PrependChild(new W.ParagraphProperties(new W.ParagraphStyleId { Val = style }));
        return p;
    }
}
