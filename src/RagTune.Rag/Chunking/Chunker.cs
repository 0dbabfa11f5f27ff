using RagTune.Rag.Store;
using RagTune.Rag.Text;

namespace RagTune.Rag.Chunking;

/// <summary>Chunk sizing. Token counts are <see cref="TokenScanner"/> estimates, not model tokens.</summary>
public sealed record ChunkerOptions
{
    /// <summary>Largest chunk, in estimated tokens, overlap included. Default 256.</summary>
    public int ChunkTokens { get; init; } = 256;

    /// <summary>Tokens repeated from the end of a chunk at the start of the next one in the same section. Default 32.</summary>
    public int OverlapTokens { get; init; } = 32;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (ChunkTokens < 8) throw new ArgumentException($"ChunkerOptions.ChunkTokens must be at least 8 (got {ChunkTokens}).");
        if (OverlapTokens < 0 || OverlapTokens * 2 > ChunkTokens)
            throw new ArgumentException($"ChunkerOptions.OverlapTokens must be between 0 and half of ChunkTokens ({ChunkTokens / 2}); got {OverlapTokens}.");
    }
}

/// <summary>
/// Structure-aware, token-aware chunking. The text is first cut into sections at heading lines (<c># …</c> to
/// <c>###### …</c>, which every reader emits for headings), each recording its heading path; a section holding
/// only its heading joins the next one. Inside a section, chunks are packed greedily up to
/// <see cref="ChunkerOptions.ChunkTokens"/>, cutting at the strongest boundary in the back half of the window:
/// a blank line (paragraph), else a sentence end or line break, else between words (a single token larger than
/// the window becomes its own chunk). Consecutive chunks of a section share about
/// <see cref="ChunkerOptions.OverlapTokens"/> tokens; chunks never span sections. Every chunk is an exact slice:
/// <c>text[Start..End] == Text</c>, starting and ending on a token. Deterministic.
/// </summary>
internal sealed class Chunker
{
    private readonly ChunkerOptions _options;

    /// <summary>Creates a chunker; the options are validated.</summary>
    public Chunker(ChunkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Chunks a document's (normalised) text.</summary>
    public IReadOnlyList<Chunk> Split(SourceDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return Split(document.Text);
    }

    /// <summary>Chunks <paramref name="text"/>; offsets refer to it.</summary>
    public IReadOnlyList<Chunk> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var chunks = new List<Chunk>();
        var tokens = new List<TokenSpan>();
        foreach (var (start, end, path) in Sections(text))
        {
            tokens.Clear();
            TokenScanner.Scan(text, start, end, tokens);
            if (tokens.Count > 0) PackSection(text, tokens, path, chunks);
        }
        return chunks;
    }

    private void PackSection(string text, List<TokenSpan> t, IReadOnlyList<string> path, List<Chunk> chunks)
    {
        var n = t.Count;
        var max = _options.ChunkTokens;
        var start = 0;
        var prevEnd = 0;
        while (true)
        {
            // Furthest end (exclusive) that fits the window; at least one token beyond the previous chunk.
            var b = FitEnd(t, start, max);
            if (b <= prevEnd && start < prevEnd)
            {
                // The overlap leaves no room for a new token: drop it for this chunk.
                start = prevEnd;
                b = FitEnd(t, start, max);
            }
            b = Math.Max(b, start + 1);
            int cut;
            if (b >= n)
            {
                cut = n;
            }
            else
            {
                var lowest = Math.Max(prevEnd + 1, FillPoint(t, start, b, max / 2));
                cut = BestCut(text, t, lowest, b);
                if (cut < 0) cut = BestCut(text, t, prevEnd + 1, b);
                if (cut < 0) cut = b;
            }
            var s = t[start].Start;
            var e = t[cut - 1].End;
            var count = 0;
            for (var i = start; i < cut; i++) count += t[i].Weight;
            chunks.Add(new Chunk(chunks.Count, text[s..e], s, e, path, count));
            if (cut >= n) return;
            // Next chunk starts OverlapTokens back from the cut (but always after this chunk's start).
            var next = cut;
            var ow = 0;
            while (next - 1 > start && ow + t[next - 1].Weight <= _options.OverlapTokens) ow += t[--next].Weight;
            prevEnd = cut;
            start = next;
        }
    }

    private static int FitEnd(List<TokenSpan> t, int start, int max)
    {
        var weight = 0;
        var b = start;
        while (b < t.Count && weight + t[b].Weight <= max) weight += t[b++].Weight;
        return b;
    }

    /// <summary>First token index after which at least <paramref name="fill"/> weight has accumulated from <paramref name="start"/>.</summary>
    private static int FillPoint(List<TokenSpan> t, int start, int limit, int fill)
    {
        var w = 0;
        var i = start;
        while (i < limit && w < fill) w += t[i++].Weight;
        return i;
    }

    /// <summary>The latest cut in [lo, hi] with the strongest boundary (paragraph &gt; sentence/line &gt; word), or -1 when the range is empty.</summary>
    private static int BestCut(string text, List<TokenSpan> t, int lo, int hi)
    {
        var best = -1;
        var bestStrength = 0;
        for (var c = hi; c >= lo; c--)
        {
            if (c <= 0 || c >= t.Count) continue;
            var s = Strength(text, t[c - 1], t[c]);
            if (s > bestStrength)
            {
                best = c;
                bestStrength = s;
                if (s == 3) break;
            }
        }
        return best;
    }

    /// <summary>Boundary strength between two adjacent tokens: 3 paragraph, 2 sentence or line, 1 word, 0 none (no space between).</summary>
    private static int Strength(string text, TokenSpan before, TokenSpan after)
    {
        var newlines = 0;
        for (var i = before.End; i < after.Start; i++)
            if (text[i] == '\n') newlines++;
        if (newlines >= 2) return 3;
        if (newlines == 1) return 2;
        if (after.Start == before.End) return 0;
        var last = text[before.End - 1];
        return last is '.' or '!' or '?' or '。' or '！' or '？' ? 2 : 1;
    }

    /// <summary>Sections of <paramref name="text"/>: (start, end, heading path); a heading-only section merges into the next.</summary>
    internal static List<(int Start, int End, IReadOnlyList<string> Path)> Sections(string text)
    {
        var result = new List<(int, int, IReadOnlyList<string>)>();
        var stack = new List<(int Level, string Title)>();
        var sectionStart = 0;
        IReadOnlyList<string> sectionPath = [];
        var hasBody = false;
        var lineStart = 0;
        while (lineStart <= text.Length)
        {
            var nl = text.IndexOf('\n', lineStart);
            var lineEnd = nl < 0 ? text.Length : nl;
            var level = HeadingLevel(text, lineStart, lineEnd);
            if (level > 0)
            {
                if (hasBody)
                {
                    result.Add((sectionStart, lineStart, sectionPath));
                    sectionStart = lineStart;
                }
                while (stack.Count > 0 && stack[^1].Level >= level) stack.RemoveAt(stack.Count - 1);
                stack.Add((level, text[(lineStart + level)..lineEnd].Trim().TrimEnd('#').Trim()));
                sectionPath = stack.Select(h => h.Title).ToArray();
                hasBody = false;
            }
            else if (!hasBody && lineEnd > lineStart && !string.IsNullOrWhiteSpace(text[lineStart..lineEnd]))
            {
                hasBody = true;
            }
            if (nl < 0) break;
            lineStart = nl + 1;
        }
        result.Add((sectionStart, text.Length, sectionPath));
        return result;
    }

    private static int HeadingLevel(string text, int start, int end)
    {
        var i = start;
        while (i < end && i - start < 7 && text[i] == '#') i++;
        var level = i - start;
        return level is >= 1 and <= 6 && i < end && text[i] == ' ' && !string.IsNullOrWhiteSpace(text[i..end]) ? level : 0;
    }
}
