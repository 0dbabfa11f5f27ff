using System.Globalization;
using System.Text;
using RagTune.Rag.Store;
using RagTune.Rag.Text;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.DocumentLayoutAnalysis;
using UglyToad.PdfPig.DocumentLayoutAnalysis.PageSegmenter;
using UglyToad.PdfPig.DocumentLayoutAnalysis.ReadingOrderDetector;
using UglyToad.PdfPig.DocumentLayoutAnalysis.WordExtractor;
using UglyToad.PdfPig.Exceptions;

namespace RagTune.Rag.Ingestion;

/// <summary>
/// Reads a PDF's text layer with PdfPig (managed; no outside tool). Per page: words with their boxes
/// (nearest-neighbour word extraction), text blocks from Docstrum layout analysis, blocks in reading order
/// (unsupervised detection from spatial relations), so a two-column page reads column by column. Blocks that sit
/// side by side with their lines on shared baselines and few words per line are a table: they are written row by row,
/// cells joined by <c>" | "</c> as the HTML reader writes table cells. Pages are joined by a blank line and their start
/// offsets in the document's text go into the metadata (<see cref="PdfPages"/>), so a chunk knows its pages.
/// Encrypted, text-less (scanned) and unreadable files fail with a one-line <see cref="DocumentReadException"/>.
/// </summary>
internal static class PdfTextReader
{
    // A table cell holds a few words; a line of running text in a column holds more.
    private const double MaxCellWordsPerLine = 4;

    public static SourceDocument Read(string path, string id, string ext)
    {
        PdfDocument document;
        try
        {
            document = PdfDocument.Open(path, new ParsingOptions { UseLenientParsing = true, SkipMissingFonts = true });
        }
        catch (PdfDocumentEncryptedException e)
        {
            throw new DocumentReadException(path,
                "the PDF is encrypted (password-protected); save an unprotected copy (e.g. qpdf --decrypt in.pdf out.pdf) and ingest that", e);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            throw Unreadable(path, e);
        }
        using (document)
        {
            var pages = new List<string>();
            try
            {
                if (document.NumberOfPages == 0) throw new DocumentReadException(path, "not a readable PDF (corrupt or truncated): it has no pages");
                foreach (var page in document.GetPages()) pages.Add(TextNormalizer.Normalize(PageText(page)));
            }
            catch (DocumentReadException)
            {
                throw;
            }
            catch (PdfDocumentEncryptedException e)
            {
                throw new DocumentReadException(path, "the PDF is encrypted (password-protected); save an unprotected copy and ingest that", e);
            }
            catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
            {
                throw Unreadable(path, e);
            }
            if (pages.All(p => p.Length == 0))
                throw new DocumentReadException(path,
                    $"the PDF has no text layer ({pages.Count} page(s) of images only: a scan?); run OCR on it first (e.g. ocrmypdf in.pdf out.pdf) and ingest the result");
            var (text, starts) = PdfPages.Join(pages);
            var title = document.Information.Title is { } t && !string.IsNullOrWhiteSpace(t) ? t : Path.GetFileNameWithoutExtension(path);
            var doc = DocumentReaders.Make(id, path, title, text, ext, new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [PdfPages.CountKey] = pages.Count.ToString(CultureInfo.InvariantCulture),
                [PdfPages.StartsKey] = PdfPages.Format(starts),
            });
            // Pages are normalised one by one and joined by a blank line, which normalising again leaves unchanged:
            // the offsets hold for the stored text.
            if (doc.Text != text) throw new InvalidOperationException($"{path}: page offsets do not survive normalisation (a bug in PdfTextReader).");
            return doc;
        }
    }

    private static DocumentReadException Unreadable(string path, Exception e)
    {
        // One short line: parser messages can carry whole dictionaries or stack-like detail.
        var first = (e.Message ?? e.GetType().Name).Split('\n', 2)[0].Trim();
        if (first.Length > 160) first = first[..157] + "...";
        return new DocumentReadException(path, $"not a readable PDF (corrupt or truncated): {first}", e);
    }

    /// <summary>One page's text: blocks in reading order, a blank line between blocks, tables row by row.</summary>
    internal static string PageText(Page page)
    {
        var words = page.GetWords(NearestNeighbourWordExtractor.Instance).Where(w => !string.IsNullOrWhiteSpace(w.Text)).ToList();
        if (words.Count == 0) return "";
        var blocks = UnsupervisedReadingOrderDetector.Instance.Get(DocstrumBoundingBoxes.Instance.GetBlocks(words))
            .OrderBy(b => b.ReadingOrder).ToList();
        var rows = blocks.Select(Rows).ToList();
        var sb = new StringBuilder();
        var used = new bool[blocks.Count];
        for (var i = 0; i < blocks.Count; i++)
        {
            if (used[i]) continue;
            used[i] = true;
            var group = new List<int> { i };
            if (IsCellLike(rows[i]))
            {
                for (var j = i + 1; j < blocks.Count; j++)
                {
                    if (used[j] || !IsCellLike(rows[j]) || !group.All(g => SideBySide(blocks[g], rows[g], blocks[j], rows[j]))) continue;
                    group.Add(j);
                    used[j] = true;
                }
            }
            if (group.Count == 1)
                foreach (var row in rows[i]) sb.Append(row.Text).Append('\n');
            else
                AppendTable(sb, [.. group.SelectMany(g => rows[g])]);
            sb.Append("\n\n");
        }
        return sb.ToString();
    }

    /// <summary>A line of a block: words on one baseline, left to right.</summary>
    private readonly record struct Row(double Bottom, double Height, double Left, int Words, string Text);

    /// <summary>
    /// A block's words regrouped by baseline, top first. Layout analysis can join words stacked in a sparse column
    /// (a table's cells) into one "line"; a baseline is what a reader sees as a line.
    /// </summary>
    private static List<Row> Rows(TextBlock block)
    {
        var rows = new List<Row>();
        var current = new List<Word>();
        foreach (var w in block.TextLines.SelectMany(l => l.Words).OrderByDescending(w => w.BoundingBox.Bottom))
        {
            if (current.Count > 0 && !SameBaseline(current[0].BoundingBox.Bottom, current[0].BoundingBox.Height, w.BoundingBox.Bottom, w.BoundingBox.Height))
            {
                rows.Add(MakeRow(current));
                current.Clear();
            }
            current.Add(w);
        }
        if (current.Count > 0) rows.Add(MakeRow(current));
        return rows;
    }

    private static Row MakeRow(List<Word> words)
    {
        var ordered = words.OrderBy(w => w.BoundingBox.Left).ToList();
        return new Row(ordered.Max(w => w.BoundingBox.Bottom), ordered.Max(w => w.BoundingBox.Height), ordered[0].BoundingBox.Left, ordered.Count,
            string.Join(' ', ordered.Select(w => w.Text)));
    }

    /// <summary>The rows of a table's blocks grouped by baseline (top row first), cells left to right.</summary>
    private static void AppendTable(StringBuilder sb, List<Row> cells)
    {
        var row = new List<Row>();
        foreach (var cell in cells.OrderByDescending(c => c.Bottom))
        {
            if (row.Count > 0 && !SameBaseline(row[0].Bottom, row[0].Height, cell.Bottom, cell.Height))
            {
                AppendRow(sb, row);
                row.Clear();
            }
            row.Add(cell);
        }
        if (row.Count > 0) AppendRow(sb, row);
    }

    private static void AppendRow(StringBuilder sb, List<Row> row) =>
        sb.Append(string.Join(" | ", row.OrderBy(c => c.Left).Select(c => c.Text))).Append('\n');

    private static bool IsCellLike(List<Row> rows) => rows.Count > 0 && rows.Average(r => r.Words) <= MaxCellWordsPerLine;

    private static bool SameBaseline(double bottomA, double heightA, double bottomB, double heightB) =>
        Math.Abs(bottomA - bottomB) < 0.5 * Math.Min(heightA, heightB) + 0.5;

    /// <summary>True when two blocks do not overlap horizontally and most of their rows share baselines (at least two).</summary>
    private static bool SideBySide(TextBlock a, List<Row> rowsA, TextBlock b, List<Row> rowsB)
    {
        if (a.BoundingBox.Right > b.BoundingBox.Left && b.BoundingBox.Right > a.BoundingBox.Left) return false;
        var matched = rowsA.Count(ra => rowsB.Any(rb => SameBaseline(ra.Bottom, ra.Height, rb.Bottom, rb.Height)));
        return matched >= 2 && matched >= 0.6 * Math.Min(rowsA.Count, rowsB.Count);
    }
}

/// <summary>
/// Page numbers of a PDF document's text. The reader stores where each page starts in the document's text
/// (<see cref="StartsKey"/>: comma-separated UTF-16 offsets, page 1 first) and the page count in the document's
/// metadata, which every stored chunk carries; a chunk's pages follow from its span.
/// </summary>
internal static class PdfPages
{
    /// <summary>Metadata key of the page count.</summary>
    public const string CountKey = "pages";

    /// <summary>Metadata key of the page start offsets.</summary>
    public const string StartsKey = "page_starts";

    /// <summary>Joins normalised page texts with a blank line; returns the text and each page's start (an empty page starts where the next one does).</summary>
    public static (string Text, int[] Starts) Join(IReadOnlyList<string> pages)
    {
        var sb = new StringBuilder();
        var starts = new int[pages.Count];
        for (var i = 0; i < pages.Count; i++)
        {
            if (pages[i].Length > 0 && sb.Length > 0) sb.Append("\n\n");
            starts[i] = sb.Length;
            sb.Append(pages[i]);
        }
        // An empty page before a page with text points at that page's first character, after the separator.
        for (var i = pages.Count - 2; i >= 0; i--)
            if (pages[i].Length == 0) starts[i] = starts[i + 1];
        return (sb.ToString(), starts);
    }

    public static string Format(int[] starts) => string.Join(',', starts.Select(s => s.ToString(CultureInfo.InvariantCulture)));

    /// <summary>
    /// The first and last page (1-based) holding text in <c>[start, end)</c> of a document with
    /// <paramref name="metadata"/>, or null when the document has no page offsets (not a PDF, or malformed).
    /// </summary>
    public static (int First, int Last)? Of(IReadOnlyDictionary<string, string> metadata, int start, int end)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(StartsKey, out var raw) || raw.Length == 0) return null;
        var parts = raw.Split(',');
        var starts = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out starts[i])) return null;
        int PageAt(int offset)
        {
            var page = 0;
            for (var i = 0; i < starts.Length; i++)
                if (starts[i] <= offset) page = i;
            return page + 1;
        }
        return (PageAt(start), PageAt(Math.Max(start, end - 1)));
    }

    /// <summary>"p. 4" or "pp. 4–5" for a chunk, or null when its document has no pages.</summary>
    public static string? Label(IReadOnlyDictionary<string, string> metadata, int start, int end) =>
        Of(metadata, start, end) is not { } p ? null
        : p.First == p.Last ? string.Create(CultureInfo.InvariantCulture, $"p. {p.First}")
        : string.Create(CultureInfo.InvariantCulture, $"pp. {p.First}–{p.Last}");
}
