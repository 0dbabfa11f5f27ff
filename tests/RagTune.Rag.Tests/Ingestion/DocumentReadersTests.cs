using System.Text;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using RagTune.Rag.Chunking;
using RagTune.Rag.Ingestion;
using RagTune.TestKit;
using W = DocumentFormat.OpenXml.Wordprocessing;

namespace RagTune.Rag.Tests.Ingestion;

public sealed class DocumentReadersTests
{
    private static readonly ReaderOptions Options = ReaderOptions.Default;

    [Fact]
    public void Markdown_keeps_text_and_headings_as_structure()
    {
        using var dir = new TempDir();
        var path = dir.File("guide.md");
        File.WriteAllText(path, "# Install Guide\r\n\r\nRun the **installer**   and [follow](http://x) it.\r\n\r\n## Linux\r\n\r\n- use apt\r\n- or snap\r\n\r\n### Debian\r\n\r\nText  here.\r\n");
        var doc = Assert.Single(DocumentReaders.Read(path, Options, "guide.md"));
        Assert.Equal("Install Guide", doc.Title);
        Assert.Equal("guide.md", doc.Id);
        Assert.Equal("md", doc.Metadata["ext"]);
        Assert.Contains("# Install Guide", doc.Text);
        Assert.Contains("Run the installer and follow it.", doc.Text);
        Assert.Contains("## Linux", doc.Text);
        Assert.DoesNotContain("\r", doc.Text);
        Assert.DoesNotContain("**", doc.Text);
        var chunks = new Chunker(new ChunkerOptions()).Split(doc);
        Assert.Contains(chunks, c => c.HeadingPath.SequenceEqual(["Install Guide", "Linux", "Debian"]) && c.Text.Contains("Text here."));
    }

    [Fact]
    public void Html_keeps_title_visible_text_and_headings_and_drops_script_style_nav()
    {
        using var dir = new TempDir();
        var path = dir.File("page.html");
        File.WriteAllText(path, """
            <html><head><title>Widget Manual</title><style>body{color:red}</style></head>
            <body><nav><a href="/">Home</a> menu</nav>
            <h1>Widgets</h1><p>A widget turns
            cranks.</p><script>var secret = 1;</script>
            <h2>Care</h2><p>Oil it &amp; wipe it.</p><div hidden>invisible</div></body></html>
            """);
        var doc = Assert.Single(DocumentReaders.Read(path, Options));
        Assert.Equal("Widget Manual", doc.Title);
        Assert.Contains("# Widgets", doc.Text);
        Assert.Contains("## Care", doc.Text);
        Assert.Contains("A widget turns cranks.", doc.Text);
        Assert.Contains("Oil it & wipe it.", doc.Text);
        Assert.DoesNotContain("secret", doc.Text);
        Assert.DoesNotContain("color", doc.Text);
        Assert.DoesNotContain("menu", doc.Text);
        Assert.DoesNotContain("invisible", doc.Text);
    }

    [Fact]
    public void Docx_reads_paragraphs_and_heading_styles()
    {
        using var dir = new TempDir();
        var path = dir.File("report.docx");
        using (var word = WordprocessingDocument.Create(path, WordprocessingDocumentType.Document))
        {
            var main = word.AddMainDocumentPart();
            main.Document = new W.Document(new W.Body(
                Para("Quarterly Report", "Heading1"),
                Para("Revenue grew by ten percent.", null),
                Para("Costs", "Heading2"),
                Para("Costs fell.", null)));
            main.Document.Save();
        }
        var doc = Assert.Single(DocumentReaders.Read(path, Options, "report.docx"));
        Assert.Equal("Quarterly Report", doc.Title);
        Assert.Equal("# Quarterly Report\n\nRevenue grew by ten percent.\n\n## Costs\n\nCosts fell.", doc.Text);
        var chunks = new Chunker(new ChunkerOptions()).Split(doc);
        Assert.Equal(["Quarterly Report", "Costs"], chunks[^1].HeadingPath);
    }

    private static W.Paragraph Para(string text, string? style)
    {
        var p = new W.Paragraph(new W.Run(new W.Text(text)));
        if (style != null) p.PrependChild(new W.ParagraphProperties(new W.ParagraphStyleId { Val = style }));
        return p;
    }

    [Fact]
    public void Corrupt_docx_and_binary_files_throw_naming_the_file()
    {
        using var dir = new TempDir();
        var docx = dir.File("broken.docx");
        File.WriteAllBytes(docx, Encoding.ASCII.GetBytes("PK\u0003\u0004 this is not really a zip"));
        var e1 = Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(docx, Options));
        Assert.Contains("broken.docx", e1.Message);

        var bin = dir.File("blob.txt");
        File.WriteAllBytes(bin, [0x89, 0x50, 0x4E, 0x47, 0x00, 0x01, 0x02, 0xFF]);
        var e2 = Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(bin, Options));
        Assert.Contains("blob.txt", e2.Message);
        Assert.Contains("binary", e2.Reason);

        var latin = dir.File("latin.md");
        File.WriteAllBytes(latin, [0x63, 0x61, 0x66, 0xE9, 0x20, 0x61]);
        Assert.Contains("UTF-8", Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(latin, Options)).Reason);
    }

    [Fact]
    public void Jsonl_records_become_documents_and_a_bad_line_is_named()
    {
        using var dir = new TempDir();
        var path = dir.File("faq.jsonl");
        File.WriteAllText(path, "{\"id\":\"q1\",\"title\":\"Reset\",\"text\":\"Hold the button.\",\"lang\":\"en\",\"votes\":3}\n\n{\"id\":\"q2\",\"text\":\"Call us.\"}\n");
        var docs = DocumentReaders.Read(path, Options, "faq.jsonl");
        Assert.Equal(2, docs.Count);
        Assert.Equal("q1", docs[0].Id);
        Assert.Equal("Reset", docs[0].Title);
        Assert.Equal("Hold the button.", docs[0].Text);
        Assert.Equal("en", docs[0].Metadata["lang"]);
        Assert.Equal("3", docs[0].Metadata["votes"]);
        Assert.Equal(path + "#3", docs[1].Source);

        File.AppendAllText(path, "{\"id\":\"q3\", broken\n");
        var e = Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(path, Options));
        Assert.Contains("line 4", e.Message);
        Assert.Contains("faq.jsonl", e.Message);
    }

    private static string WriteSingleLineJsonl(TempDir dir, int textBytes)
    {
        var path = dir.File("big.jsonl");
        using (var w = new StreamWriter(path, false, new System.Text.UTF8Encoding(false)))
        {
            w.Write("{\"id\":\"big\",\"text\":\"");
            var words = "the quick brown fox jumps over the lazy dog ";
            for (var written = 0; written < textBytes; written += words.Length) w.Write(words);
            w.Write("\"}\n{\"id\":\"small\",\"text\":\"after\"}\n");
        }
        return path;
    }

    [Fact]
    public void A_20_MB_single_line_jsonl_is_refused_by_line_before_it_is_parsed_in_bounded_memory()
    {
        using var dir = new TempDir();
        var path = WriteSingleLineJsonl(dir, 20_000_000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(path, Options));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("line 1", e.Reason);
        Assert.Contains("MaxRecordBytes", e.Reason);
        Assert.Contains(path, e.Message);
        // The line buffer grows to the 16 MiB limit (doubling: about twice that in all), never to the file.
        Assert.True(allocated < 3L * Options.MaxRecordBytes, $"refusing allocated {allocated / 1_000_000} MB");
    }

    [Fact]
    public void A_big_single_line_record_under_the_limit_is_read_in_memory_proportional_to_it()
    {
        using var dir = new TempDir();
        var path = WriteSingleLineJsonl(dir, 20_000_000);
        var fileBytes = new FileInfo(path).Length;
        var options = Options with { MaxRecordBytes = 32 * 1024 * 1024 };
        var before = GC.GetAllocatedBytesForCurrentThread();
        var docs = DocumentReaders.Read(path, options);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(["big", "small"], docs.Select(d => d.Id));
        Assert.True(docs[0].Text.Length >= 20_000_000);
        // The line's bytes (grown by doubling: ~3x) and the text as a string and its normalised form (2x each);
        // the old reader made the file a string, split it, transcoded it back and cloned the parse (14x in all).
        Assert.True(allocated < 10 * fileBytes, $"reading a {fileBytes / 1_000_000} MB record allocated {allocated / 1_000_000} MB");
    }

    [Fact]
    public void Jsonl_keeps_bom_blank_lines_crlf_and_refuses_nul_bytes_by_line()
    {
        using var dir = new TempDir();
        var path = dir.File("crlf.jsonl");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "{\"text\":\"caf\u00e9\"}\r\n  \r\n{\"text\":\"two\"}"u8]);
        var docs = DocumentReaders.Read(path, Options);
        Assert.Equal(["caf\u00e9", "two"], docs.Select(d => d.Text));
        Assert.Equal(path + "#3", docs[1].Source);
        var utf16 = dir.File("utf16.jsonl");
        File.WriteAllText(utf16, "{\"text\":\"wide\"}\n", System.Text.Encoding.Unicode);
        Assert.Equal("wide", Assert.Single(DocumentReaders.Read(utf16, Options)).Text);
        var nul = dir.File("nul.jsonl");
        File.WriteAllBytes(nul, [.. "{\"text\":\"a\"}\n{\"te"u8, 0, .. "xt\":1}\n"u8]);
        Assert.Contains("line 2", Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(nul, Options)).Reason);
        Assert.Throws<ArgumentException>(() => new ReaderOptions { MaxRecordBytes = 0 }.Validate());
    }

    [Fact]
    public void Json_array_and_csv_with_custom_fields()
    {
        using var dir = new TempDir();
        var opts = new ReaderOptions { TextField = "body", IdField = "key", TitleField = "name" };
        var json = dir.File("a.json");
        File.WriteAllText(json, "[{\"key\":\"k1\",\"name\":\"One\",\"body\":\"First body.\"},{\"body\":\"No key.\"}]");
        var docs = DocumentReaders.Read(json, opts, "a.json");
        Assert.Equal(["k1", "a.json#2"], docs.Select(d => d.Id));
        var csv = dir.File("b.csv");
        File.WriteAllText(csv, "key,name,body,tag\nc1,Alpha,\"Text, with comma\nand newline\",x\nc2,Beta,\"Say \"\"hi\"\"\",y\n");
        var rows = DocumentReaders.Read(csv, opts, "b.csv");
        Assert.Equal(2, rows.Count);
        Assert.Equal("Text, with comma\nand newline", rows[0].Text);
        Assert.Equal("Say \"hi\"", rows[1].Text);
        Assert.Equal("y", rows[1].Metadata["tag"]);
        Assert.Equal(csv + "#4", rows[1].Source);
        File.AppendAllText(csv, "c3,Gamma\n");
        Assert.Contains("line 5", Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(csv, opts)).Message);
        var missing = dir.File("c.jsonl");
        File.WriteAllText(missing, "{\"text\":\"ok\"}\n{\"other\":1}\n");
        Assert.Contains("line 2", Assert.Throws<DocumentReadException>(() => DocumentReaders.Read(missing, Options)).Message);
    }

    [Fact]
    public void Reader_options_are_validated()
    {
        Assert.Throws<ArgumentException>(() => new ReaderOptions { TextField = " " }.Validate());
        Assert.Throws<ArgumentException>(() => new ReaderOptions { TextField = "x", IdField = "x" }.Validate());
        Assert.Throws<ArgumentException>(() => new ReaderOptions { MaxFileBytes = 0 }.Validate());
    }

    [Fact]
    public void Normaliser_is_nfc_lf_collapses_spaces_and_strips_controls()
    {
        var n = RagTune.Rag.Text.TextNormalizer.Normalize("Cafe\u0301\r\nA  \t b\u0007c\u200B\r\n\r\n\r\n\r\nend   ");
        Assert.Equal("Caf\u00E9\nA bc\n\nend", n);
        Assert.Equal(n, RagTune.Rag.Text.TextNormalizer.Normalize(n));
    }
}
