using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace RagTune.Rag.Text;

/// <summary>
/// Normalises document text before it is stored: Unicode NFC, CRLF/CR → LF, form feed → blank line, tabs and
/// no-break spaces → space, other control and zero-width format characters removed, runs of spaces collapsed to
/// one (newlines are kept), spaces at line ends trimmed, more than one blank line collapsed to one, whole text
/// trimmed. Chunk offsets always refer to the string this returns, which is the string the store keeps.
/// </summary>
internal static class TextNormalizer
{
    /// <summary>Returns the normalised form of <paramref name="text"/>; idempotent.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        // Under InvariantGlobalization string.Normalize is a no-op; CanonicalComposition supplies the composition.
        var nfc = CanonicalComposition.Compose(text.Normalize(NormalizationForm.FormC));
        // The output is built lazily: while it equals a prefix of nfc (most text needs no change), nothing is copied
        // and only its length is counted; the first difference copies that prefix into a builder.
        StringBuilder? sb = null;
        var same = 0;
        void Emit(char c)
        {
            if (sb == null && same < nfc.Length && nfc[same] == c) { same++; return; }
            sb ??= new StringBuilder(nfc.Length).Append(nfc, 0, same);
            sb.Append(c);
        }
        var pendingSpace = false;
        var newlines = 0;
        for (var i = 0; i < nfc.Length; i++)
        {
            var c = nfc[i];
            if (c == '\r')
            {
                if (i + 1 < nfc.Length && nfc[i + 1] == '\n') continue;
                c = '\n';
            }
            if (c is '\n' or '\f')
            {
                pendingSpace = false;
                newlines += c == '\f' ? 2 : 1;
                continue;
            }
            if (c is '\t' or '\u00A0' or '\u2007' or '\u202F' || (c != ' ' && char.GetUnicodeCategory(c) == UnicodeCategory.SpaceSeparator))
                c = ' ';
            if (c == ' ')
            {
                pendingSpace = (sb?.Length ?? same) > 0 && newlines == 0;
                continue;
            }
            var cat = char.GetUnicodeCategory(c);
            if (cat == UnicodeCategory.Control) continue;
            // Zero-width and bidi format characters (U+200B..U+200F, U+FEFF, soft hyphen) carry no text.
            if (cat == UnicodeCategory.Format && c is '\u00AD' or (>= '\u200B' and <= '\u200F') or '\uFEFF' or (>= '\u2060' and <= '\u2064')) continue;
            if (newlines > 0)
            {
                if ((sb?.Length ?? same) > 0)
                {
                    Emit('\n');
                    if (newlines >= 2) Emit('\n');
                }
                newlines = 0;
            }
            else if (pendingSpace)
            {
                Emit(' ');
            }
            pendingSpace = false;
            Emit(c);
        }
        return sb?.ToString() ?? (same == nfc.Length ? nfc : nfc[..same]);
    }

    /// <summary>sha256 (lower-case hex) of the title and text, as <see cref="Store.SourceDocument.ContentHash"/> defines it.</summary>
    public static string ContentHash(string title, string text)
    {
        // Hashed in blocks, the same bytes as UTF8.GetBytes(title + "\n\0\n" + text) without that copy of a big text.
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var encoder = new UTF8Encoding(false).GetEncoder();
        var block = new byte[4096 * 3 + 8];
        Feed(sha, encoder, block, title, false);
        Feed(sha, encoder, block, "\n\0\n", false);
        Feed(sha, encoder, block, text, true);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static void Feed(IncrementalHash sha, Encoder encoder, byte[] block, ReadOnlySpan<char> chars, bool flush)
    {
        while (true)
        {
            var take = Math.Min(chars.Length, 4096);
            encoder.Convert(chars[..take], block, flush && take == chars.Length, out var used, out var written, out _);
            sha.AppendData(block, 0, written);
            chars = chars[used..];
            if (chars.IsEmpty) return;
        }
    }
}
