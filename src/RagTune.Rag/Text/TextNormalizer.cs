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
        var nfc = text.IsNormalized(NormalizationForm.FormC) ? text : text.Normalize(NormalizationForm.FormC);
        var sb = new StringBuilder(nfc.Length);
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
                pendingSpace = sb.Length > 0 && newlines == 0;
                continue;
            }
            var cat = char.GetUnicodeCategory(c);
            if (cat == UnicodeCategory.Control) continue;
            // Zero-width and bidi format characters (U+200B..U+200F, U+FEFF, soft hyphen) carry no text.
            if (cat == UnicodeCategory.Format && c is '\u00AD' or (>= '\u200B' and <= '\u200F') or '\uFEFF' or (>= '\u2060' and <= '\u2064')) continue;
            if (newlines > 0)
            {
                if (sb.Length > 0) sb.Append(newlines >= 2 ? "\n\n" : "\n");
                newlines = 0;
            }
            else if (pendingSpace)
            {
                sb.Append(' ');
            }
            pendingSpace = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>sha256 (lower-case hex) of the title and text, as <see cref="Store.SourceDocument.ContentHash"/> defines it.</summary>
    public static string ContentHash(string title, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(title + "\n\0\n" + text);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }
}
