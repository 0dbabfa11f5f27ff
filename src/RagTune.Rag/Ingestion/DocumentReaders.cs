using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using DocumentFormat.OpenXml.Packaging;
using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using RagTune.Rag.Store;
using RagTune.Rag.Text;
using W = DocumentFormat.OpenXml.Wordprocessing;

namespace RagTune.Rag.Ingestion;

/// <summary>
/// Reads files into <see cref="SourceDocument"/>s, chosen by extension. Structure is kept as Markdown-style heading
/// lines (<c># Title</c>, <c>## Section</c>) in the normalised text whatever the format, so one chunker handles all.
/// Any failure becomes a <see cref="DocumentReadException"/> naming the file; the caller reports and skips it.
/// </summary>
public static class DocumentReaders
{
    /// <summary>Extensions (lower case, with dot) the readers handle.</summary>
    public static IReadOnlySet<string> SupportedExtensions { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        ".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf", ".json", ".jsonl", ".csv",
    };

    /// <summary>True when <paramref name="path"/> has a supported extension.</summary>
    public static bool IsSupported(string path) => SupportedExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>Reads one file. <paramref name="documentId"/> is its id (path relative to the ingest root); default the file name.</summary>
    public static IReadOnlyList<SourceDocument> Read(string path, ReaderOptions options, string? documentId = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var full = Path.GetFullPath(path);
        var id = documentId ?? Path.GetFileName(full);
        var ext = Path.GetExtension(full).ToLowerInvariant();
        if (!SupportedExtensions.Contains(ext))
            throw new DocumentReadException(full, $"unsupported file type '{ext}' (supported: {string.Join(", ", SupportedExtensions)})");
        FileInfo info;
        try
        {
            info = new FileInfo(full);
            if (!info.Exists) throw new DocumentReadException(full, "file not found");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            throw new DocumentReadException(full, e.Message, e);
        }
        if (info.Length > options.MaxFileBytes)
            throw new DocumentReadException(full, $"file is {info.Length} bytes, above ReaderOptions.MaxFileBytes ({options.MaxFileBytes})");
        try
        {
            return ext switch
            {
                ".txt" => [Make(id, full, Path.GetFileNameWithoutExtension(full), ReadText(full), ext)],
                ".md" or ".markdown" => [ReadMarkdown(full, id, ext)],
                ".html" or ".htm" => [ReadHtml(full, id, ext)],
                ".docx" => [ReadDocx(full, id, ext)],
                ".pdf" => [PdfTextReader.Read(full, id, ext)],
                _ => RecordReaders.Read(full, id, ext, options),
            };
        }
        catch (DocumentReadException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or FormatException
                                      or OpenXmlPackageException or InvalidOperationException or ArgumentException
                                      or System.Xml.XmlException or NotSupportedException)
        {
            throw new DocumentReadException(full, $"cannot read {ext} file: {e.Message}", e);
        }
    }

    /// <summary>Builds a document from raw text: normalises, hashes, adds "ext" metadata.</summary>
    internal static SourceDocument Make(string id, string source, string title, string rawText, string ext, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var text = TextNormalizer.Normalize(rawText);
        var cleanTitle = TextNormalizer.Normalize(title).Replace('\n', ' ');
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["ext"] = ext.TrimStart('.') };
        if (metadata != null)
            foreach (var (k, v) in metadata) meta[k] = v;
        return new SourceDocument(id, source, cleanTitle, text, TextNormalizer.ContentHash(cleanTitle, text), meta);
    }

    /// <summary>Decodes a text file: BOM-aware, strict UTF-8 otherwise; NUL bytes or invalid UTF-8 mean binary.</summary>
    internal static string ReadText(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF)))
        {
            using var reader = new StreamReader(new MemoryStream(bytes), detectEncodingFromByteOrderMarks: true);
            return reader.ReadToEnd();
        }
        var probe = Math.Min(bytes.Length, 8192);
        if (Array.IndexOf(bytes, (byte)0, 0, probe) >= 0)
            throw new DocumentReadException(path, "binary content (NUL bytes), not text");
        var skip = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, skip, bytes.Length - skip);
        }
        catch (DecoderFallbackException e)
        {
            throw new DocumentReadException(path, "not valid UTF-8 text (binary or another encoding; convert it to UTF-8)", e);
        }
    }

    // ---------------------------------------------------------------- Markdown

    private static readonly MarkdownPipeline s_markdown = new MarkdownPipelineBuilder().UsePipeTables().UseYamlFrontMatter().Build();

    private static SourceDocument ReadMarkdown(string path, string id, string ext)
    {
        var doc = Markdown.Parse(ReadText(path), s_markdown);
        var sb = new StringBuilder();
        string? title = null;
        WriteBlocks(doc, sb, ref title);
        return Make(id, path, title ?? Path.GetFileNameWithoutExtension(path), sb.ToString(), ext);
    }

    private static void WriteBlocks(ContainerBlock container, StringBuilder sb, ref string? title)
    {
        foreach (var block in container)
        {
            switch (block)
            {
                case HeadingBlock h:
                    var text = InlineText(h.Inline).Trim();
                    title ??= text;
                    sb.Append('\n').Append('#', h.Level).Append(' ').Append(text.Replace('\n', ' ')).Append("\n\n");
                    break;
                case ParagraphBlock p:
                    sb.Append(InlineText(p.Inline)).Append("\n\n");
                    break;
                case ListItemBlock li:
                    sb.Append("- ");
                    var inner = new StringBuilder();
                    WriteBlocks(li, inner, ref title);
                    sb.Append(inner.ToString().Trim()).Append('\n');
                    break;
                case ListBlock list:
                    WriteBlocks(list, sb, ref title);
                    sb.Append('\n');
                    break;
                case Markdig.Extensions.Tables.Table table:
                    foreach (var row in table.OfType<Markdig.Extensions.Tables.TableRow>())
                    {
                        var cells = new List<string>();
                        foreach (var cell in row.OfType<Markdig.Extensions.Tables.TableCell>())
                        {
                            var cb = new StringBuilder();
                            WriteBlocks(cell, cb, ref title);
                            cells.Add(cb.ToString().Trim());
                        }
                        sb.Append(string.Join(" | ", cells)).Append('\n');
                    }
                    sb.Append('\n');
                    break;
                case Markdig.Extensions.Yaml.YamlFrontMatterBlock:
                    break;
                case LeafBlock leaf when leaf.Lines.Lines != null:
                    // Code blocks, HTML blocks: their raw lines are the text.
                    sb.Append(leaf.Lines.ToString()).Append("\n\n");
                    break;
                case ContainerBlock c:
                    WriteBlocks(c, sb, ref title);
                    break;
            }
        }
    }

    private static string InlineText(ContainerInline? inline)
    {
        if (inline == null) return "";
        var sb = new StringBuilder();
        AppendInline(inline, sb);
        return sb.ToString();
    }

    private static void AppendInline(Inline inline, StringBuilder sb)
    {
        switch (inline)
        {
            case LiteralInline lit: sb.Append(lit.Content.ToString()); break;
            case CodeInline code: sb.Append(code.Content); break;
            case LineBreakInline: sb.Append('\n'); break;
            case AutolinkInline auto: sb.Append(auto.Url); break;
            case HtmlEntityInline ent: sb.Append(ent.Transcoded.ToString()); break;
            case HtmlInline: break;
            case ContainerInline c:
                for (var child = c.FirstChild; child != null; child = child.NextSibling) AppendInline(child, sb);
                break;
        }
    }

    // ---------------------------------------------------------------- HTML

    private static readonly HashSet<string> s_htmlSkip = new(StringComparer.OrdinalIgnoreCase)
    {
        "script", "style", "nav", "noscript", "template", "svg", "iframe", "head", "button", "select", "form", "canvas",
    };

    private static readonly HashSet<string> s_htmlBlocks = new(StringComparer.OrdinalIgnoreCase)
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "ul", "ol", "li", "dl",
        "dt", "dd", "table", "thead", "tbody", "tr", "figure", "figcaption", "address", "details", "summary", "hr",
    };

    private static SourceDocument ReadHtml(string path, string id, string ext)
    {
        var parser = new HtmlParser();
        using var document = parser.ParseDocument(ReadText(path));
        var sb = new StringBuilder();
        string? firstHeading = null;
        if (document.Body != null) WriteHtml(document.Body, sb, ref firstHeading, inPre: false);
        var title = document.Title is { Length: > 0 } t && !string.IsNullOrWhiteSpace(t) ? t.Trim() : firstHeading ?? Path.GetFileNameWithoutExtension(path);
        return Make(id, path, title, sb.ToString(), ext);
    }

    private static void WriteHtml(INode node, StringBuilder sb, ref string? firstHeading, bool inPre)
    {
        foreach (var child in node.ChildNodes)
        {
            if (child is IText text)
            {
                sb.Append(inPre ? text.Data : text.Data.Replace('\n', ' ').Replace('\r', ' '));
                continue;
            }
            if (child is not IElement el) continue;
            var name = el.LocalName;
            if (s_htmlSkip.Contains(name) || el.HasAttribute("hidden") || el.GetAttribute("aria-hidden") == "true") continue;
            if (name.Length == 2 && name[0] == 'h' && name[1] is >= '1' and <= '6')
            {
                var heading = TextNormalizer.Normalize(el.TextContent).Replace('\n', ' ');
                if (heading.Length == 0) continue;
                firstHeading ??= heading;
                sb.Append("\n\n").Append('#', name[1] - '0').Append(' ').Append(heading).Append("\n\n");
                continue;
            }
            if (name == "br") { sb.Append('\n'); continue; }
            if (name is "td" or "th") { sb.Append(' '); WriteHtml(el, sb, ref firstHeading, inPre); sb.Append(" |"); continue; }
            var block = s_htmlBlocks.Contains(name);
            if (block) sb.Append(name is "li" or "tr" or "dt" or "dd" ? "\n" : "\n\n");
            WriteHtml(el, sb, ref firstHeading, inPre || name == "pre");
            if (block) sb.Append(name is "li" or "tr" or "dt" or "dd" ? "\n" : "\n\n");
        }
    }

    // ---------------------------------------------------------------- DOCX

    private static SourceDocument ReadDocx(string path, string id, string ext)
    {
        using var word = WordprocessingDocument.Open(path, false);
        var body = word.MainDocumentPart?.Document?.Body ?? throw new DocumentReadException(path, "no document body (not a Word document?)");
        var sb = new StringBuilder();
        string? titleStyle = null, firstHeading = null;
        foreach (var p in body.Descendants<W.Paragraph>())
        {
            var text = ParagraphText(p).Trim();
            if (text.Length == 0) continue;
            var style = p.ParagraphProperties?.ParagraphStyleId?.Val?.Value ?? "";
            var level = HeadingLevel(style, p.ParagraphProperties?.OutlineLevel?.Val?.Value);
            if (style.Equals("Title", StringComparison.OrdinalIgnoreCase))
            {
                titleStyle ??= text;
                level = 1;
            }
            if (level > 0)
            {
                firstHeading ??= text;
                sb.Append('\n').Append('#', level).Append(' ').Append(text.Replace('\n', ' ')).Append("\n\n");
            }
            else
            {
                sb.Append(text).Append("\n\n");
            }
        }
        var coreTitle = word.PackageProperties.Title;
        var title = !string.IsNullOrWhiteSpace(coreTitle) ? coreTitle : titleStyle ?? firstHeading ?? Path.GetFileNameWithoutExtension(path);
        return Make(id, path, title, sb.ToString(), ext);
    }

    private static int HeadingLevel(string style, int? outlineLevel)
    {
        // Built-in heading styles have ids "Heading1".."Heading9" (localised names keep these ids).
        if (style.StartsWith("Heading", StringComparison.OrdinalIgnoreCase) && int.TryParse(style.AsSpan(7), out var n) && n is >= 1 and <= 9)
            return Math.Min(n, 6);
        return outlineLevel is >= 0 and < 9 ? Math.Min(outlineLevel.Value + 1, 6) : 0;
    }

    private static string ParagraphText(W.Paragraph p)
    {
        var sb = new StringBuilder();
        foreach (var el in p.Descendants())
        {
            switch (el)
            {
                case W.Text t: sb.Append(t.Text); break;
                case W.TabChar: sb.Append(' '); break;
                case W.Break or W.CarriageReturn: sb.Append('\n'); break;
            }
        }
        return sb.ToString();
    }
}
